"""Backing up a training run so that it resumes after an interruption, on one machine or many."""

import json
import os
import tempfile

import h5py
import keras
import tensorflow as tf

from mtl_zoo.files import write_whole

HISTORY_FILE = "history.json"


class SharedBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` for multi-worker runs, which also keeps the history.

    Every worker restores from the same `backup_dir`, which only the chief writes
    (TensorFlow's convention: with several machines, `backup_dir` must be on a
    filesystem they all read, such as NFS or a `gs://` bucket). Giving each worker
    its own copy instead breaks when a worker dies after the chief backed up an
    epoch but before it did: the copies then hold different epochs, and the
    restarted workers' collectives fail with shape mismatches. Before restoring,
    the workers compare the epochs they find and stop with a clear error if they
    differ (for instance when `backup_dir` is on each machine's own disk).

    Backups are taken at the end of every epoch. The two latest are kept
    (`double_checkpoint`), so a backup cut short by a crash is replaced by the
    one before it. A backup is written in an order that a crash cannot leave
    inconsistent: the latest metadata is removed before the new weights are
    written and written whole after them, so weights whose epoch is not on
    record are never resumed from (Keras alone would resume epoch n+1's weights
    as epoch n's after a crash between the two files). The per-epoch logs are
    backed up too: after a resumed `fit`, `history` holds every epoch of the
    run, where Keras's `History` holds only those trained since the restart.
    A pipeline built with `build_pipeline(..., epochs=E,
    first_epoch=backup.backed_up_epoch())` resumes the data too: the resumed
    epochs get the order and augmentation an uninterrupted run would have had.

    Args:
        backup_dir: the folder of the backups.
        delete_checkpoint: delete `backup_dir` when training ends (Keras's
            default). A job that does more after `fit` (evaluating, exporting)
            passes False and deletes the folder once it is done, so that a
            crash in between resumes from the finished training.

    Example:
    >>> backup = mz.SharedBackupAndRestore("/tmp/run/backup")  # doctest: +SKIP
    >>> data = build_pipeline(model, examples, 32, shuffle_buffer=1000, seed=0, epochs=10,
    ...                       first_epoch=backup.backed_up_epoch())  # doctest: +SKIP
    >>> model.fit(data, epochs=10, steps_per_epoch=mz.data.steps_per_epoch([1000], 32),
    ...           callbacks=[backup])  # doctest: +SKIP
    >>> len(backup.history["loss"])  # doctest: +SKIP
    10
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__(backup_dir, double_checkpoint=True, delete_checkpoint=delete_checkpoint)
        self._history_path = tf.io.gfile.join(backup_dir, HISTORY_FILE)
        self._epoch_logs = []

    @property
    def history(self):
        """`{metric: [value per epoch]}` of every epoch trained, before and after restarts."""
        names = dict.fromkeys(name for logs in self._epoch_logs for name in logs)
        return {name: [logs.get(name) for logs in self._epoch_logs] for name in names}

    def _is_chief(self):
        return self.model.distribute_strategy.extended.should_checkpoint

    def on_train_begin(self, logs=None):
        epoch = self.backed_up_epoch()
        self._check_same_epoch_on_every_worker(epoch)
        if self._latest_metadata_is_cut_short():
            self._restore_the_previous_backup(logs)
        else:
            super().on_train_begin(logs)
        self._epoch_logs = self._backed_up_history()[:epoch]

    def _restore_the_previous_backup(self, logs):
        """Keras falls back to the previous backup only when the weights do not load; this
        restores it when the metadata does not. Every worker reads a local copy of it (Keras
        loads only `.weights.h5` names, and the workers must not write to the shared folder)."""
        latest = self._weights_path, self._training_metadata_path
        with tempfile.TemporaryDirectory() as local:
            self._weights_path = os.path.join(local, os.path.basename(latest[0]))
            self._training_metadata_path = os.path.join(local, os.path.basename(latest[1]))
            for source, copy in [(self._prev_weights_path, self._weights_path),
                                 (self._prev_training_metadata_path, self._training_metadata_path)]:
                if tf.io.gfile.exists(source):
                    tf.io.gfile.copy(source, copy)
            try:
                super().on_train_begin(logs)
            finally:
                self._weights_path, self._training_metadata_path = latest

    def _latest_metadata_is_cut_short(self):
        """True when the latest metadata is unreadable, or missing beside weights (the crash
        hit `_save_model` after it removed the metadata)."""
        try:
            with tf.io.gfile.GFile(self._training_metadata_path) as f:
                int(json.load(f)["epoch"])
        except tf.errors.NotFoundError:
            return tf.io.gfile.exists(self._weights_path)
        except (ValueError, KeyError, TypeError):
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        self._epoch_logs = self._epoch_logs[:epoch] + [
            {name: float(value) for name, value in (logs or {}).items()}]
        if self._is_chief():
            self._write_history()
            super().on_epoch_end(epoch, logs)

    def _save_model(self):
        """Keras's backup, in an order a crash cannot leave inconsistent: both latest files
        are copied to the previous backup, the latest metadata is removed, the weights are
        written, then the metadata, whole (write, then rename)."""
        tf.io.gfile.makedirs(self.backup_dir)
        for latest, previous in [(self._weights_path, self._prev_weights_path),
                                 (self._training_metadata_path, self._prev_training_metadata_path)]:
            if tf.io.gfile.exists(latest):
                tf.io.gfile.copy(latest, previous, overwrite=True)
        if tf.io.gfile.exists(self._training_metadata_path):
            tf.io.gfile.remove(self._training_metadata_path)
        self.model.save_weights(self._weights_path, overwrite=True)
        write_whole(self._training_metadata_path, json.dumps(
            {"epoch": self._current_epoch, "batch": self._last_batch_seen}))

    def on_train_end(self, logs=None):
        if self._is_chief():
            super().on_train_end(logs)

    def backed_up_epoch(self):
        """The number of epochs the latest backup holds (0 without one): the epoch a `fit` with
        this callback resumes at. An epoch-indexed pipeline built from it before `fit`
        (`build_pipeline(..., epochs=E, first_epoch=backup.backed_up_epoch())`) gives the
        resumed epochs the batches an uninterrupted run would have trained on."""
        paths = [self._training_metadata_path, self._prev_training_metadata_path]
        if self._latest_weights_are_unreadable():  # Keras resumes the previous backup
            paths = paths[1:]
        for path in paths:
            try:
                with tf.io.gfile.GFile(path) as f:
                    return int(json.load(f)["epoch"])
            except (tf.errors.NotFoundError, ValueError, KeyError, TypeError):
                continue  # missing, or cut short: on_train_begin restores the previous backup
        return 0

    def _latest_weights_are_unreadable(self):
        """True when the latest weights file exists but does not open as HDF5, where Keras's
        `on_train_begin` falls back to the previous backup (its `OSError` path)."""
        if not tf.io.gfile.exists(self._weights_path):
            return False
        try:
            with tf.io.gfile.GFile(self._weights_path, "rb") as f, h5py.File(f, "r"):
                return False
        except OSError:
            return True

    def _backed_up_history(self):
        if not tf.io.gfile.exists(self._history_path):
            return []
        with tf.io.gfile.GFile(self._history_path) as f:
            return json.load(f)

    def _write_history(self):
        """Writes the history beside the weights, whole or not at all (write, then rename)."""
        tf.io.gfile.makedirs(self.backup_dir)
        write_whole(self._history_path, json.dumps(self._epoch_logs))

    def _check_same_epoch_on_every_worker(self, epoch):
        from mtl_zoo.distribution import is_multi_worker

        strategy = self.model.distribute_strategy
        if not is_multi_worker(strategy):
            return
        found = strategy.experimental_distribute_values_from_function(
            lambda _: tf.constant([epoch], tf.int64))
        epochs = strategy.gather(found, axis=0).numpy().tolist()
        if len(set(epochs)) > 1:
            raise ValueError(
                f"The workers found backups of different epochs in {self.backup_dir} (one per "
                f"replica, in worker order: {epochs}): every worker must read the one backup folder "
                f"that the chief writes. Put it on a filesystem all the machines share (NFS, a "
                f"gs:// bucket), or delete it to start over.")
