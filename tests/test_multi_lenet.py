"""MultiLeNet (Sener & Koltun 2018) as a MultiTaskModel: layers, training, saving, bad input."""

import numpy as np
import pytest

import mtl_zoo as mz

DIGITS = [mz.tasks.Classification("left", 10), mz.tasks.Classification("right", 10)]


def test_multi_lenet_has_the_papers_layers_and_parameter_count():
    model = mz.build_multi_lenet(DIGITS)
    assert model.get_layer("conv1").kernel.shape == (5, 5, 1, 10)
    assert model.get_layer("conv2").kernel.shape == (5, 5, 10, 20)
    assert model.get_layer("shared_dense").kernel.shape == (720, 50)  # 20 x 6 x 6 after two poolings
    trunk = (5 * 5 * 10 + 10) + (5 * 5 * 10 * 20 + 20) + (720 * 50 + 50)
    head = (50 * 50 + 50) + (50 * 10 + 10)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trunk + 2 * head
    assert sorted(model.output_names) == ["left_logits", "right_logits"]


def test_multi_lenet_learns_and_round_trips(tmp_path, rng):
    images = np.zeros((64, 36, 36, 1), np.uint8)
    left, right = rng.integers(0, 2, 64), rng.integers(0, 2, 64)
    images[left == 1, :18] = 255  # the labels are visible in the image halves
    images[right == 1, 18:] = 255
    model = mz.build_multi_lenet([mz.tasks.Classification("left", 2), mz.tasks.Classification("right", 2)],
                                 uncertainty_weighting=True)
    model.compile(optimizer="adam", aggregator=mz.weighting.MGDA(mode="representation"))
    history = model.fit(images, {"left": left, "right": right}, batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["left_accuracy"][-1] > 0.9 and history.history["right_accuracy"][-1] > 0.9
    model.save(tmp_path / "lenet.keras")
    loaded = mz.load_model(tmp_path / "lenet.keras")
    np.testing.assert_allclose(loaded.predict(images[:4], verbose=0)["left_logits"],
                               model.predict(images[:4], verbose=0)["left_logits"], rtol=1e-6)


def test_multi_lenet_refuses_other_task_kinds_and_small_inputs():
    with pytest.raises(ValueError, match="classification heads only.*box \\(detection\\)"):
        mz.build_multi_lenet([mz.tasks.Detection("box", 3)])
    with pytest.raises(ValueError, match="sides >= 16"):
        mz.build_multi_lenet(DIGITS, input_shape=(12, 12, 1))
    with pytest.raises(ValueError, match="sides >= 16"):
        mz.build_multi_lenet(DIGITS, input_shape=(36, 36))
