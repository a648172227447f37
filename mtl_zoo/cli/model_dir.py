"""A training run's folder: which model it holds, so that a run never resumes from
another model's checkpoint."""

import contextlib
import json
import os
import shutil
import warnings

from mtl_zoo.files import write_whole

RUN_FILE = "run.json"
LOGS_FOLDER = "logs"  # TensorBoard's
WORKER_FILES_PREFIX = "worker_"  # the logs of local non-chief workers (mtl_zoo.cli.local_workers)


def setting_differences(there, now, prefix=""):
    """`"name: value there, value now"` for each setting that differs between two runs'
    identities, nested settings named by their path (`recipe.epochs`); a setting that only
    one of them records (a flag given only when set) reads "not set" on the other side.

    Example:
    >>> setting_differences({"recipe": {"epochs": 1, "seed": 0}}, {"recipe": {"epochs": 2, "seed": 0}})
    ['recipe.epochs: 1 there, 2 now']
    >>> setting_differences({"recipe": {"freeze_trunk": True}}, {"recipe": {}})
    ['recipe.freeze_trunk: True there, not set now']
    """
    differences = []
    for key in sorted(set(there) | set(now)):
        old, new = there.get(key), now.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            differences += setting_differences(old, new, f"{prefix}{key}.")
        elif old != new:
            old, new = (repr(side[key]) if key in side else "not set" for side in (there, now))
            differences.append(f"{prefix}{key}: {old} there, {new} now")
    return differences


def claim_model_dir(model_dir, identity):
    """Makes `model_dir` the folder of the run described by `identity`.

    A new or empty folder gets `run.json` with `identity`; a folder with the same
    `identity` is reused (the run resumes from its checkpoint there).

    Args:
        model_dir: the run's folder.
        identity: JSON-ready `{setting: value}` that fix the model's architecture and
            how it is trained.

    Returns:
        True when this call wrote `run.json` (a new run), False when it reuses one.

    Raises:
        ValueError: the folder holds another model's run (the settings that
            differ are named) or files this job did not write.

    Example:
    >>> claim_model_dir("/tmp/run_a", {"backbone": "tiny"})  # doctest: +SKIP
    """
    identity = json.loads(json.dumps(identity))  # tuples to lists, as they come back from JSON
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ValueError(f"--model_dir {model_dir} is a file: give a folder, new or of this run.")
    run_file = os.path.join(model_dir, RUN_FILE)
    if os.path.exists(run_file):
        with open(run_file) as f:
            try:
                previous = json.load(f)
            except json.JSONDecodeError:
                raise ValueError(f"{run_file} is not valid JSON: delete {model_dir} or choose "
                                 f"another --model_dir.") from None
        differences = setting_differences(previous, identity)
        if differences:
            raise ValueError(f"--model_dir {model_dir} holds the checkpoint of another model or "
                             f"recipe ({'; '.join(differences)}): choose another --model_dir, or "
                             f"delete that folder to start over.")
        return False
    if os.path.isdir(model_dir) and [name for name in os.listdir(model_dir)
                                     if not name.startswith(WORKER_FILES_PREFIX)]:
        raise ValueError(f"--model_dir {model_dir} is not empty and has no {RUN_FILE} (it was not "
                         f"written by this job): choose another --model_dir.")
    os.makedirs(model_dir, exist_ok=True)
    write_whole(run_file, json.dumps(identity, indent=2))  # a job started meanwhile reads it whole
    return True


@contextlib.contextmanager
def claimed_model_dir(model_dir, identity):
    """`claim_model_dir` for the block, which holds the folder alone: a second job started
    on it meanwhile (the same command run twice) stops with an error instead of resuming
    from a backup the first one is replacing. When the block fails before writing anything
    but `run.json` and TensorBoard logs (a bad setting found while building the model, data
    that will not load or fails a check in the first epoch), a new claim is undone, so that
    the corrected command can use the folder.

    Example:
    >>> with claimed_model_dir("/tmp/run_b", {"backbone": "tiny"}):  # doctest: +SKIP
    ...     train()
    """
    existed = os.path.isdir(model_dir)
    before = set(os.listdir(model_dir)) if existed else set()
    claimed = claim_model_dir(model_dir, identity)
    try:
        run_file = open(os.path.join(model_dir, RUN_FILE))
    except FileNotFoundError:  # the job that wrote it failed and released the folder meanwhile
        raise ValueError(f"--model_dir {model_dir} was released by a job that failed as this one "
                         "started: run the command again.") from None
    with run_file:
        _hold_alone(run_file, model_dir)  # until the file closes, when the block ends
        try:
            yield
        except BaseException:
            _release_unused_claim(model_dir, claimed, set(os.listdir(model_dir)) - before, existed)
            raise


def _hold_alone(run_file, model_dir):
    """Locks the open `run_file` for this process (POSIX `flock`; nothing where there is
    none), or a ValueError when another process holds it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    try:
        fcntl.flock(run_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ValueError(f"--model_dir {model_dir} is in use by another training job: wait for it "
                         "to end, or choose another --model_dir.") from None
    except OSError as error:  # a filesystem without locks (NFS without lockd, some FUSE)
        warnings.warn(f"--model_dir {model_dir}: the run folder cannot be locked ({error}), so a "
                      "second job started on it would not be stopped.", stacklevel=2)


def _release_unused_claim(model_dir, claimed, written, existed):
    """Undoes a new claim of `model_dir` whose run wrote nothing to resume from."""
    if claimed and written <= {RUN_FILE, LOGS_FOLDER}:  # no backup: nothing to resume
        shutil.rmtree(os.path.join(model_dir, LOGS_FOLDER), ignore_errors=True)
        os.remove(os.path.join(model_dir, RUN_FILE))
        if not existed:
            os.rmdir(model_dir)
