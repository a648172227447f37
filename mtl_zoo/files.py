"""Writing a file whole or not at all."""


def write_whole(path, content):
    """Writes `content` (str or bytes) to `path` through `path + ".partial"`, renamed over
    `path` once complete: readers never see a half-written file, and after a failure the
    partial file is gone and `path` is as it was. Works on any `tf.io.gfile` filesystem.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> write_whole(path, "done")
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('done', ['notes.txt'])
    """
    import tensorflow as tf

    partial = path + ".partial"
    try:
        with tf.io.gfile.GFile(partial, "wb" if isinstance(content, bytes) else "w") as file:
            file.write(content)
        tf.io.gfile.rename(partial, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(partial):
            tf.io.gfile.remove(partial)
