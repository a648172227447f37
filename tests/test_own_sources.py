"""A dataset source of the user's own, named by its import path wherever a source name goes."""

import sys
import textwrap

import pytest

import counts_source
from mtl_zoo.data.sources import (allows_horizontal_flips, evaluation_split, get_source, load_examples,
                                  source_tasks)

# module -> its text, written to a folder on sys.path by the `own_modules` fixture
OWN_MODULES = {
    "own_package/__init__": "",
    "own_package/not_a_source": "VALUE = 1\n",
    "own_package/needing_a_package": "import a_package_nobody_has\n",
    "loads_without_data_dir": """
        def load(split):
            return None

        def tasks():
            return []
        """,
    "multi_mnis": "VALUE = 1\n",  # a typo of a shipped source that names some other module
    "source_of_wrong_things": """
        import tensorflow as tf

        def load(split, data_dir=None, download=True):
            if split == "train":
                return [("image", {"kind": 1})]
            return tf.data.Dataset.from_tensor_slices(tf.zeros([2, 8, 8, 3], tf.uint8))

        def tasks():
            return ["kind"]
        """,
    "source_of_other_names": """
        import tensorflow as tf
        import mtl_zoo as mz

        def load(split, data_dir=None, download=True):
            return tf.data.Dataset.from_tensors((tf.zeros([8, 8, 3], tf.uint8), {"kind": 1}))

        def tasks():
            return [mz.tasks.Classification("kinds", 2)]
        """,
    "source_without_tasks": """
        def load(split, data_dir=None, download=True, **options):
            return None

        def tasks():
            return None
        """,
}


def _forget_own_modules():
    for name in list(sys.modules):
        if name.split(".")[0] in {path.split("/")[0] for path in OWN_MODULES}:
            del sys.modules[name]


@pytest.fixture
def own_modules(tmp_path, monkeypatch):
    """The modules of `OWN_MODULES` in a folder on sys.path, none of them imported yet."""
    for path, text in OWN_MODULES.items():
        file = tmp_path / f"{path}.py"
        file.parent.mkdir(exist_ok=True)
        file.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    _forget_own_modules()
    yield
    _forget_own_modules()


def test_a_module_of_ones_own_is_a_source_by_its_import_path():
    assert get_source("counts_source") is counts_source
    assert [task.name for task in source_tasks("counts_source")] == ["count"]
    assert len(list(load_examples("counts_source", "validation"))) == counts_source.SIZES["validation"]
    # the optional attributes are read from it, with the defaults where it has none
    assert allows_horizontal_flips("counts_source") is False
    assert evaluation_split("counts_source") == "validation"


@pytest.mark.parametrize("name, message", [
    ("no_such_source_module", r"Unknown dataset 'no_such_source_module'\. Valid choices: celeb_a, .*voc\. Or "
                              r"give the import path of a module of your own .*PYTHONPATH"),
    ("mtl-shapes", r"Unknown dataset 'mtl-shapes'\. Did you mean 'mtl_shapes'\?.* Or give the import path"),
    ("own_package.no_such_module", r"Unknown dataset 'own_package\.no_such_module'.* Or give the import path"
                                   r".*PYTHONPATH=\. for \./own_package/no_such_module\.py\)"),
    ("own_package.not_a_source", r"Module 'own_package\.not_a_source' is not a dataset source: it has no "
                                 r"load and no tasks function\. A source defines"),
    ("multi_mnis", r"Module 'multi_mnis' is not a dataset source: .* Did you mean 'multi_mnist'\?"),
    ("loads_without_data_dir", r"Dataset source 'loads_without_data_dir': its load\(split\) cannot be called "
                               r"as load\(split, data_dir=\.\.\., download=\.\.\.\) \(got an unexpected "
                               r"keyword argument 'data_dir'\)"),
    ("src/boats.py", r"Unknown dataset 'src/boats\.py'.* named by its import path, not a file: 'boats', "
                     r"with 'src' on PYTHONPATH"),
    ("mtl_zoo.data.sources.mtl_shapes", r"Name a source shipped here by its own name, not its module path"),
    (["mtl_shapes"], r"Unknown dataset \['mtl_shapes'\]"),
])
def test_a_name_that_is_no_source_says_what_a_source_needs(name, message, own_modules):
    with pytest.raises(ValueError, match=message):
        get_source(name)


def test_an_error_inside_ones_own_source_goes_up_unchanged(own_modules):
    # a dependency the module lacks is its own error, not an unknown dataset
    with pytest.raises(ModuleNotFoundError) as error:
        get_source("own_package.needing_a_package")
    assert error.value.name == "a_package_nobody_has"


def test_a_source_that_gives_the_wrong_things_is_told_what_it_must_give(own_modules):
    with pytest.raises(ValueError, match=r"'source_of_wrong_things': load\('train'\) must return a tf\.data\.Dataset "
                                         r"of \(image, \{task name: raw label\}\) pairs, got <class 'list'>"):
        load_examples("source_of_wrong_things", "train")
    with pytest.raises(ValueError, match=r"load\('test'\) must return .*, got TensorSpec\(shape=\(8, 8, 3\)"):
        load_examples("source_of_wrong_things", "test")
    with pytest.raises(ValueError, match=r"'source_of_wrong_things': tasks\(\) must return mtl_zoo\.tasks "
                                         r"instances .*; got \['kind'\]"):
        source_tasks("source_of_wrong_things")
    with pytest.raises(ValueError, match=r"'source_without_tasks': tasks\(\) must return .*; got None"):
        source_tasks("source_without_tasks")
    with pytest.raises(ValueError, match=r"'source_of_other_names': its examples label \['kind'\], which its "
                                         r"tasks\(\) does not name \(it names \['kinds'\]\)"):
        load_examples("source_of_other_names", "train")
