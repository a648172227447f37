"""Writing files whole or not at all: staging names, the modes of new files, and the
clean-up of what a killed process left behind."""

import contextlib
import os
import re
import shutil
import tempfile
import time
import uuid

PARTIAL_MARKER = ".partial"
STALE_SECONDS = 3600


def partial_path(path):
    """A new hidden staging name beside `path`, for `write_whole` to write first: unique
    on every call, so that two writers of one path never write into the same file.

    Example:
    >>> partial_path("/models/shapes.tflite")
    '/models/.shapes.tflite.partial-...'
    """
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{PARTIAL_MARKER}-{uuid.uuid4().hex}")


def write_whole(path, content):
    """Writes `content` (str or bytes) to `path` through a hidden `partial_path(path)`,
    renamed over `path` once complete: readers never see a half-written file, two writers
    of `path` do not clobber each other's (the last rename wins), and after a failure the
    partial file is gone and `path` is as it was. Partial files that a killed writer left
    in a local folder are removed once stale (`remove_stale_partials`). Works on any
    `tf.io.gfile` filesystem; a failure of its own (a missing folder, say) is raised as an
    OSError.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> write_whole(path, "done")
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('done', ['notes.txt'])
    """
    import tensorflow as tf

    remove_stale_partials(os.path.dirname(path) or ".")
    partial = partial_path(path)
    try:
        with tf.io.gfile.GFile(partial, "wb" if isinstance(content, bytes) else "w") as file:
            file.write(content)
        tf.io.gfile.rename(partial, path, overwrite=True)
    except tf.errors.OpError as error:
        raise OSError(f"Cannot write {path}: {error.message}") from None
    finally:
        if tf.io.gfile.exists(partial):
            tf.io.gfile.remove(partial)


def check_local_path(path, what):
    """Raises a ValueError when `path` names another filesystem (a URL such as `gs://...`,
    `s3://...`, `hdfs://...`): the zoo writes its runs, exports and presets with local file
    calls, so their outputs go to a local folder (a mounted network drive is one) and are
    copied afterwards. Called before any work whose result goes there.

    Example:
    >>> check_local_path("gs://bucket/runs/a", "--model_dir")
    Traceback (most recent call last):
    ...
    ValueError: --model_dir 'gs://bucket/runs/a' is not a local path; only local paths are supported: write to a local folder and copy the result afterwards (e.g. with gsutil -m cp -r).
    """
    path = os.fspath(path)
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", path):
        raise ValueError(f"{what} {path!r} is not a local path; only local paths are supported: "
                         "write to a local folder and copy the result afterwards (e.g. with "
                         "gsutil -m cp -r).")


def check_output_path(path, what):
    """Raises a ValueError when the file `path` cannot be written: its folder does not exist,
    or `path` is a folder (any `tf.io.gfile` filesystem). Called before long work whose
    result goes there.

    Example:
    >>> check_output_path("/no/such/folder/results.json", "--output")
    Traceback (most recent call last):
    ...
    ValueError: The folder '/no/such/folder' of --output does not exist: create it first.
    """
    import tensorflow as tf

    folder = os.path.dirname(os.fspath(path)) or "."
    if not tf.io.gfile.isdir(folder):
        raise ValueError(f"The folder {folder!r} of {what} does not exist: create it first.")
    if tf.io.gfile.isdir(path):
        raise ValueError(f"{what} {os.fspath(path)!r} is a folder; name a file in it.")


def umask_mode(directory=False):
    """The mode a new file (or folder) gets under this process's umask: 0o644 (0o755) under
    the usual umask 0o022. Temporary files are created 0o600 (folders 0o700), so a staged
    file is given this mode before it is moved into place, for other users to read.

    Example:
    >>> oct(umask_mode(directory=True)) in {oct(0o755), oct(0o775), oct(0o700), oct(0o750)}
    True
    """
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def remove_stale_partials(folder, older_than=STALE_SECONDS):
    """Removes the hidden staging entries (`.NAME.partial...`, files or folders) in `folder`
    untouched for `older_than` seconds: what a process killed while writing left behind.
    A write in progress keeps touching its entry, so it is left alone. Returns the names
    removed.

    Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> open(os.path.join(folder, ".w.h5.partial-x1"), "w").close()
    >>> remove_stale_partials(folder, older_than=0)
    ['.w.h5.partial-x1']
    """
    removed = []
    if not os.path.isdir(folder):
        return removed
    now = time.time()
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not (name.startswith(".") and PARTIAL_MARKER in name):
            continue
        try:
            if now - os.path.getmtime(path) < older_than:
                continue
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except OSError:  # another process removed or renamed it meanwhile
            continue
        removed.append(name)
    return removed


@contextlib.contextmanager
def staged_file(path):
    """Yields a path with `path`'s file name in a hidden staging folder beside it, for writers
    that choose the format by the extension (`keras.Model.save` takes only `.keras` names);
    the file written there replaces `path` when the block succeeds, and the staging folder
    is removed either way, so `path` is written whole or not at all.

    Example:
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> with staged_file(path) as staging:
    ...     open(staging, "w").close()
    >>> os.listdir(os.path.dirname(path)), os.path.basename(staging)
    (['model.keras'], 'model.keras')
    """
    parent, name = os.path.split(os.path.abspath(path))
    remove_stale_partials(parent)
    folder = tempfile.mkdtemp(prefix=f".{name}.partial-", dir=parent)
    try:
        staged = os.path.join(folder, name)
        yield staged
        os.chmod(staged, umask_mode())
        os.replace(staged, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(folder, replace=True):
    """Yields a hidden staging folder beside `folder` that replaces `folder` when the block
    succeeds and is removed when it fails, so a folder (an export version, a preset) is
    written whole or not at all. It gets the umask's mode (mkdtemp's 0o700 would hide it
    from other users, a model server among them), and staging folders that a killed
    process left beside it are removed once stale. With `replace=False` a `folder` that
    exists when the block ends (another process wrote it meanwhile) is left as it is and
    FileExistsError is raised.

    Example:
    >>> import tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "my_preset")
    >>> with staged_folder(folder) as staging:
    ...     open(os.path.join(staging, "preset.json"), "w").close()
    >>> with staged_folder(folder) as staging:  # a new version replaces the folder
    ...     open(os.path.join(staging, "README.md"), "w").close()
    >>> os.listdir(folder), os.listdir(os.path.dirname(folder))
    (['README.md'], ['my_preset'])
    """
    parent, name = os.path.split(os.path.abspath(folder))
    try:
        os.makedirs(parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"Cannot write the folder {folder}: a file stands in its path "
                         f"({parent} is not a folder). Choose another path.") from None
    remove_stale_partials(parent)
    staging = tempfile.mkdtemp(prefix=f".{name}.partial-", dir=parent)
    try:
        yield staging
        os.chmod(staging, umask_mode(directory=True))
        (_replace_folder if replace else _rename_to_new)(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_folder(staging, folder):
    """Renames `staging` to `folder`, moving an existing `folder` aside first and then
    deleting it (a folder cannot be renamed over a non-empty one)."""
    parent, name = os.path.split(os.path.abspath(folder))
    if not os.path.exists(folder):
        os.rename(staging, folder)
        return
    replaced = tempfile.mkdtemp(prefix=f".{name}.partial-replaced-", dir=parent)
    os.rename(folder, os.path.join(replaced, name))
    os.rename(staging, folder)
    shutil.rmtree(replaced)


def _rename_to_new(staging, folder):
    """Renames `staging` to `folder`, which must not exist (a folder that another process
    filled is never replaced: renaming onto a non-empty folder fails)."""
    if os.path.exists(folder):
        raise FileExistsError(f"{folder} was written by another process meanwhile.")
    try:
        os.rename(staging, folder)
    except OSError as error:
        if os.path.isdir(folder) and os.listdir(folder):
            raise FileExistsError(f"{folder} was written by another process meanwhile.") from error
        raise
