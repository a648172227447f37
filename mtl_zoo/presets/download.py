"""Verified, atomic, cached downloads of preset files (weights and remote preset.json).

A file is streamed into a hidden temporary file next to its final path, its size
and sha256 are checked, and only then is it moved into place with `os.replace`:
an interrupted or corrupt download never leaves a file that looks complete. A
cached file is checked against its sha256 before every use; a corrupt one is
deleted and downloaded once more (offline, it is kept and reported). A cached file
that another process removes meanwhile counts as not cached.

Environment variables:
    MTL_ZOO_MIRROR: a base URL that replaces the origin of weight files: the
        file `name` is fetched from `$MTL_ZOO_MIRROR/name`.
    MTL_ZOO_OFFLINE: "1" (or "true", "yes") to use the cache only, never the network.
    KERAS_HOME: the Keras cache root; files go to `$KERAS_HOME/mtl_zoo` (default `~/.keras/mtl_zoo`).
"""

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request

import keras

from mtl_zoo.files import remove_stale_partials, umask_mode
from mtl_zoo.progress import progress_verbosity

MIRROR_ENV = "MTL_ZOO_MIRROR"
OFFLINE_ENV = "MTL_ZOO_OFFLINE"
CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60
PARTIAL_PREFIX = ".partial-"


class DownloadError(OSError):
    """A preset file could not be downloaded, or what came was not the expected file."""


def default_cache_dir():
    """`$KERAS_HOME/mtl_zoo`, by default `~/.keras/mtl_zoo` (the Keras cache)."""
    return os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "mtl_zoo")


def is_offline():
    """True when `MTL_ZOO_OFFLINE` asks for the cache only."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def mirrored_url(url, file):
    """`url`, or `$MTL_ZOO_MIRROR/file` when a mirror is set.

    Example:
    >>> mirrored_url("https://example.com/v1/w.weights.h5", "w.weights.h5")  # no mirror set
    'https://example.com/v1/w.weights.h5'
    """
    mirror = os.environ.get(MIRROR_ENV)
    return f"{mirror.rstrip('/')}/{file}" if mirror else url


def file_sha256(path):
    """The hex sha256 digest of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path, sha256, size=None, what=None):
    """Raises DownloadError unless the file at `path` (called `what` in the message; default
    its path) has `size` bytes and digest `sha256`; a ValueError when its digest is right but
    `size` is not, since the file is then good and the size given for it wrong."""
    what = what or path
    actual_size = os.path.getsize(path)
    actual = file_sha256(path)
    if actual != sha256:
        raise DownloadError(f"{what} has sha256 {actual}, expected {sha256} ({actual_size} bytes, "
                            f"expected {size if size is not None else 'any number'}).")
    if size is not None and actual_size != size:
        raise ValueError(f"The file with sha256 {sha256} has {actual_size} bytes, but its size is "
                         f"given as {size}: correct the weights' size in the preset.json.")


def fetch(url, path, sha256=None, size=None):
    """Returns `path`, downloading `url` into it unless a valid copy is already there.

    Args:
        url: an http(s) URL.
        path: the cache path of the file.
        sha256: the expected hex digest; None accepts any content (small
            metadata files only; weights always carry a digest).
        size: the expected size in bytes, or None.

    Returns:
        (path, downloaded): `downloaded` is False for a cache hit (no network).

    Raises:
        DownloadError: offline with no cached copy or a corrupt one (left in place
            then), the server unreachable or answering with an error, a short body,
            or a sha256 mismatch.
        ValueError: the right sha256 but another size than `size` (the size given
            is wrong; the file is kept).
            No partial file is left behind (one left by a process killed while
            downloading is removed by a later download into its folder once it
            is an hour old).

    Example:
    >>> fetch("https://example.com/w.weights.h5", "/tmp/c/w.weights.h5", sha256="ab..")  # doctest: +SKIP
    ('/tmp/c/w.weights.h5', True)
    """
    if sha256 is None and os.path.exists(path):
        return path, False
    if sha256 is not None:
        try:
            verify_file(path, sha256, size)
            return path, False
        except FileNotFoundError:
            pass  # not cached, or removed meanwhile by another process sharing the cache
        except DownloadError as error:
            if is_offline():  # the cache is all there is: keep the file, say what is wrong
                raise DownloadError(
                    f"{OFFLINE_ENV} is set and the cached file is corrupt: {error} It is left in "
                    f"place; unset {OFFLINE_ENV} to download it again, or replace it with a good "
                    f"copy (`python scripts/download.py --presets=...` on a machine with internet)."
                ) from None
            with contextlib.suppress(FileNotFoundError):  # another process may have removed it
                os.remove(path)  # corrupt cache entry: fetch a fresh copy below
            print(f"mtl_zoo: removed a corrupt cached file ({error}); downloading it again.")
    if is_offline():
        raise DownloadError(
            f"{OFFLINE_ENV} is set and {path} is not in the cache. Unset {OFFLINE_ENV}, or fetch "
            f"it ahead of time with `python scripts/download.py --presets=...` on a machine with "
            f"internet and copy that cache folder here.")
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    remove_stale_partials(folder)  # left by a download that was killed
    partial = tempfile.NamedTemporaryFile(dir=folder, prefix=PARTIAL_PREFIX, delete=False)
    try:
        with partial:
            _stream(url, partial)
        if sha256 is not None:
            verify_file(partial.name, sha256, size, what="the downloaded file")
        os.chmod(partial.name, umask_mode())  # a temporary file is private; a cache may be shared
        os.replace(partial.name, path)
    except BaseException as error:
        os.remove(partial.name)
        if isinstance(error, DownloadError):
            raise DownloadError(f"Download of {url} failed: {error}") from None
        raise
    return path, True


def _stream(url, stream):
    hint = f" Set {MIRROR_ENV} to a mirror, or {OFFLINE_ENV}=1 to use the cache only."
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            expected = response.headers.get("Content-Length")
            progress = keras.utils.Progbar(int(expected) if expected else None, unit_name="byte",
                                           verbose=progress_verbosity())
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                stream.write(chunk)
                progress.add(len(chunk))
            progress.update(stream.tell(), finalize=True)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"the server answered HTTP {error.code} {error.reason}.") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"could not reach the server ({error.reason}).{hint}") from None
    except (OSError, http.client.HTTPException) as error:  # a short body, a reset connection
        raise DownloadError(f"the transfer broke off ({error!r}).{hint}") from None
    if expected is not None and stream.tell() != int(expected):
        raise DownloadError(f"the transfer broke off after {stream.tell()} of {expected} bytes.{hint}")
