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
