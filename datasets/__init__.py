"""TFDS dataset builders, one folder per dataset (shipped as mtl_zoo.dataset_builders)."""

from etils import epath


def builder_paths(module_file):
    """`(code_path, pkg_dir_path)` for a builder module of this folder.

    TFDS finds checksums.tsv, README.md, CITATIONS.bib and dummy_data/ next to
    the builder through these paths, which it otherwise derives from the
    top-level package name: wrong where datasets/ is mapped into mtl_zoo
    (editable installs). Set them in the builder class:
    `code_path, pkg_dir_path = builder_paths(__file__)`.
    """
    code_path = epath.Path(module_file)
    return code_path, code_path.parent
