import configparser
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_setup_cfg_lists_every_package_of_the_source_tree():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    in_tree = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "mtl_zoo").rglob("__init__.py")}
    assert in_tree <= listed, f"add {sorted(in_tree - listed)} to setup.cfg [options] packages"


def test_every_command_is_also_an_installed_script():
    from mtl_zoo.cli.dispatch import COMMANDS

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = dict(line.split(" = ") for line in
                   config["options.entry_points"]["console_scripts"].strip().splitlines())
    assert scripts.pop("mtl-zoo") == "mtl_zoo.cli.dispatch:run"
    assert scripts == {f"mtl-zoo-{name}": f"{module}:run" for name, (module, _) in COMMANDS.items()}


def test_installed_package_imports_from_another_directory(tmp_path):
    code = (
        "import importlib.resources as r, mtl_zoo;"
        "print(mtl_zoo.__version__);"
        "print(r.files('mtl_zoo.catalog').joinpath('README.md').is_file());"
        "print(r.files('mtl_zoo.dataset_builders').joinpath('README.md').is_file())"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    version, catalog, builders = result.stdout.split()
    assert version.count(".") == 2
    assert catalog == "True" and builders == "True"


def test_public_api_names():
    import mtl_zoo as mz

    assert callable(mz.build_model) and callable(mz.load_model)
    assert "tiny" in mz.list_backbones()
    assert set(mz.tasks.TASK_KINDS) == {"classification", "multilabel", "detection", "keypoints",
                                        "landmarks", "segmentation", "depth"}


def test_install_requires_minimums_have_what_the_package_uses():
    import importlib.metadata
    import inspect

    import keras
    from packaging.requirements import Requirement
    from packaging.version import Version

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requirements = {requirement.name: requirement.specifier for requirement in
                    map(Requirement, config["options"]["install_requires"].split())}
    # mtl_zoo.backup passes BackupAndRestore(double_checkpoint=True), new in Keras 3.7.0
    assert "double_checkpoint" in inspect.signature(keras.callbacks.BackupAndRestore).parameters
    assert Version("3.6.0") not in requirements["keras"] and Version("3.7.0") in requirements["keras"]
    # TensorFlow 2.16 is the first whose tf.keras is Keras 3 (2.15 pins keras < 2.16)
    assert Version("2.15.1") not in requirements["tensorflow"] and Version("2.16.1") in requirements["tensorflow"]
    for name, specifier in requirements.items():  # this environment meets them
        assert importlib.metadata.version(name) in specifier, name
