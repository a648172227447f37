"""A dataset source of the user's own, named by its import path wherever a source name goes."""

import textwrap

import pytest

import counts_source
from mtl_zoo.data.sources import (allows_horizontal_flips, evaluation_split, get_source, load_examples,
                                  source_tasks)


def _module(directory, name, text):
    (directory / f"{name}.py").write_text(textwrap.dedent(text))


def test_a_module_of_ones_own_is_a_source_by_its_import_path():
    assert get_source("counts_source") is counts_source
    assert [task.name for task in source_tasks("counts_source")] == ["count"]
    assert len(list(load_examples("counts_source", "validation"))) == counts_source.SIZES["validation"]
    # the optional attributes are read from it, with the defaults where it has none
    assert allows_horizontal_flips("counts_source") is False
    assert evaluation_split("counts_source") == "validation"
    # a dotted path names a module in a package, the sources shipped here included
    assert get_source("mtl_zoo.data.sources.multi_mnist") is get_source("multi_mnist")


@pytest.mark.parametrize("name, message", [
    ("no_such_source_module", r"Unknown dataset 'no_such_source_module'\. Valid choices: celeb_a, .*voc\. Or "
                              r"give the import path of a module of your own .*PYTHONPATH"),
    ("mtl-shapes", r"Unknown dataset 'mtl-shapes'\. Did you mean 'mtl_shapes'\?.* Or give the import path"),
    ("own_package.no_such_module", r"Unknown dataset 'own_package\.no_such_module'.* Or give the import path"
                                   r".*PYTHONPATH=\. for \./own_package/no_such_module\.py\)"),
    ("own_package.not_a_source", r"Module 'own_package\.not_a_source' is not a dataset source: it has no "
                                 r"load and no tasks function"),
    ("loads_without_data_dir", r"Dataset source 'loads_without_data_dir': its load\(split\) cannot be called "
                               r"as load\(split, data_dir=\.\.\., download=\.\.\.\) \(got an unexpected "
                               r"keyword argument 'data_dir'\)"),
])
def test_a_name_that_is_no_source_says_what_a_source_needs(name, message, tmp_path, monkeypatch):
    (tmp_path / "own_package").mkdir()
    _module(tmp_path / "own_package", "__init__", "")
    _module(tmp_path / "own_package", "not_a_source", "VALUE = 1\n")
    _module(tmp_path, "loads_without_data_dir", """
        def load(split):
            return None

        def tasks():
            return []
        """)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=message):
        get_source(name)


def test_an_error_inside_ones_own_source_goes_up_unchanged(tmp_path, monkeypatch):
    # a dependency the module lacks is its own error, not an unknown dataset
    _module(tmp_path, "source_needing_a_package", "import a_package_nobody_has\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as error:
        get_source("source_needing_a_package")
    assert error.value.name == "a_package_nobody_has"


def test_a_source_that_gives_the_wrong_things_is_told_what_it_must_give(tmp_path, monkeypatch):
    _module(tmp_path, "source_of_wrong_things", """
        import tensorflow as tf

        def load(split, data_dir=None, download=True):
            if split == "train":
                return [("image", {"kind": 1})]
            return tf.data.Dataset.from_tensor_slices(tf.zeros([2, 8, 8, 3], tf.uint8))

        def tasks():
            return ["kind"]
        """)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"'source_of_wrong_things': load\('train'\) must return a tf\.data\.Dataset "
                                         r"of \(image, \{task name: raw label\}\) pairs, got <class 'list'>"):
        load_examples("source_of_wrong_things", "train")
    with pytest.raises(ValueError, match=r"load\('test'\) must return .*, got TensorSpec\(shape=\(8, 8, 3\)"):
        load_examples("source_of_wrong_things", "test")
    with pytest.raises(ValueError, match=r"'source_of_wrong_things': tasks\(\) must return mtl_zoo\.tasks "
                                         r"instances .*; got \['kind'\]"):
        source_tasks("source_of_wrong_things")
