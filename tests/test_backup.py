"""SharedBackupAndRestore in one process: resuming, the whole history, a backup cut short.
(Several workers: tests/test_fault_tolerance.py.)"""

import json

import keras
import numpy as np
import pytest

import mtl_zoo as mz
from mtl_zoo.data import dataset_from_arrays, generate_shapes


def _model_and_data():
    keras.utils.set_random_seed(3)
    model = mz.build_model("tiny", [mz.tasks.Classification("count", 3)], (32, 32, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    images, labels = generate_shapes(16, image_size=32, seed=5)
    return model, dataset_from_arrays(model, images, {"count": labels["count"]}, batch_size=8)


def _interrupted_run(backup_dir, interruption):
    """Trains until `interruption` stops fit; returns the weights and the Keras history it had reached."""
    model, data = _model_and_data()
    history = keras.callbacks.History()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(data, epochs=4, verbose=0,
                  callbacks=[history, mz.SharedBackupAndRestore(str(backup_dir)), interruption])
    return model.get_weights(), history.history


def test_a_resumed_run_keeps_every_epoch_of_its_history(tmp_path, interrupt_at_epoch):
    backup_dir = tmp_path / "backup"
    weights, before = _interrupted_run(backup_dir, interrupt_at_epoch(2))
    assert json.loads((backup_dir / "training_metadata.json").read_text())["epoch"] == 2
    assert len(json.loads((backup_dir / "history.json").read_text())) == 2

    model, data = _model_and_data()
    backup = mz.SharedBackupAndRestore(str(backup_dir))
    assert backup.backed_up_epoch() == 2
    restored = []
    model.fit(data, epochs=4, verbose=0, callbacks=[backup, keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: restored.extend(model.get_weights()))])
    for value, expected in zip(restored, weights):
        np.testing.assert_array_equal(value, expected)
    assert len(backup.history["loss"]) == 4
    assert backup.history["loss"][:2] == pytest.approx(before["loss"])
    assert not backup_dir.exists()  # the chief removes its backups when training ends


@pytest.mark.parametrize("cut", ["latest.weights.h5", "training_metadata.json"])
def test_a_backup_cut_short_falls_back_to_the_one_before(tmp_path, interrupt_at_epoch, cut):
    backup_dir = tmp_path / "backup"
    _interrupted_run(backup_dir, interrupt_at_epoch(3))
    (backup_dir / cut).write_bytes(b"")  # as if the crash hit between opening the file and writing it

    model, data = _model_and_data()
    backup = mz.SharedBackupAndRestore(str(backup_dir))
    assert backup.backed_up_epoch() == 2  # what an epoch-indexed pipeline starts from
    epochs = []
    model.fit(data, epochs=4, verbose=0, callbacks=[backup, keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: epochs.append(epoch))])
    assert epochs == [2, 3]  # epoch 3's backup was unreadable: epoch 3 is trained again
    assert len(backup.history["loss"]) == 4


def test_a_crash_between_the_weights_and_the_metadata_resumes_the_epoch_before(tmp_path, monkeypatch):
    """Keras writes the weights, then the metadata: a crash in between left epoch 3's weights
    on record as epoch 2's. Here the metadata write of epoch 3 fails: epoch 3 is trained again
    from epoch 2's weights."""
    backup_dir = tmp_path / "backup"
    model, data = _model_and_data()
    weights_after = {}
    real_write_whole = mz.backup.write_whole

    def crash_on_epoch_3(path, content):
        if path.endswith("training_metadata.json") and json.loads(content)["epoch"] == 3:
            raise RuntimeError("interrupted")
        real_write_whole(path, content)

    monkeypatch.setattr(mz.backup, "write_whole", crash_on_epoch_3)
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights_after.setdefault(epoch + 1, model.get_weights()))
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(data, epochs=4, verbose=0, callbacks=[record, mz.SharedBackupAndRestore(str(backup_dir))])
    monkeypatch.undo()

    model, data = _model_and_data()
    assert mz.SharedBackupAndRestore(str(backup_dir)).backed_up_epoch() == 2
    epochs, restored = [], []
    model.fit(data, epochs=4, verbose=0, callbacks=[mz.SharedBackupAndRestore(str(backup_dir)),
                                                    keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: restored.extend(model.get_weights()),
        on_epoch_begin=lambda epoch, logs: epochs.append(epoch))])
    assert epochs == [2, 3]
    for value, expected in zip(restored, weights_after[2], strict=True):
        np.testing.assert_array_equal(value, expected)


def test_a_kept_backup_resumes_a_finished_run_without_training(tmp_path):
    backup_dir = tmp_path / "backup"
    model, data = _model_and_data()
    model.fit(data, epochs=2, verbose=0, callbacks=[mz.SharedBackupAndRestore(str(backup_dir),
                                                                              delete_checkpoint=False)])
    assert json.loads((backup_dir / "training_metadata.json").read_text())["epoch"] == 2

    model, data = _model_and_data()
    backup = mz.SharedBackupAndRestore(str(backup_dir), delete_checkpoint=False)
    epochs = []
    model.fit(data, epochs=2, verbose=0, callbacks=[backup, keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: epochs.append(epoch))])
    assert epochs == [] and len(backup.history["loss"]) == 2
