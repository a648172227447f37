import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.data import (Annealed, Proportional, RoundRobin, TaskSampler, mix_datasets,
                          steps_per_epoch)

NAMES = ("a", "b", "c")


@pytest.fixture(scope="module")
def model():
    """One image-level task per dataset: an example's mask says which dataset it came from."""
    return mz.build_model("tiny", [mz.tasks.Classification(n, 2) for n in NAMES], (32, 32, 3))


def _dataset(task, size, image_shape=(32, 32, 3)):
    images = np.zeros((size,) + image_shape, np.uint8)
    return tf.data.Dataset.from_tensor_slices((images, {task: np.ones(size, np.int32)}))


def _origins(model, datasets, sampler, draws, batch_size=100, **kwargs):
    """The dataset index of each of `draws` examples of the mixture (from the task masks)."""
    data = mix_datasets(model, datasets, batch_size=batch_size, sampler=sampler, seed=0,
                        shuffle_buffer=0, **kwargs)
    masks = [batch[2] for batch in data.take(draws // batch_size)]
    one_hot = np.stack([np.concatenate([m[n].numpy() for m in masks]) for n in NAMES], -1)
    assert (one_hot.sum(-1) == 1).all()  # each example labels exactly its dataset's task
    return one_hot.argmax(-1)


def _tolerance(p, n):
    # 4 binomial standard deviations: a correct sampler misses by more with probability < 1e-4
    return 4.0 * np.sqrt(p * (1.0 - p) / n)


def test_round_robin_takes_turns(model):
    origins = _origins(model, [_dataset(n, s) for n, s in zip(NAMES, (10, 50, 200))], RoundRobin(), 300)
    assert origins.tolist() == [0, 1, 2] * 100


def test_proportional_sampling_hits_the_size_proportions(model):
    sizes = (100, 200, 700)
    origins = _origins(model, [_dataset(n, s) for n, s in zip(NAMES, sizes)], "proportional", 3000)
    for index, p in enumerate(Proportional().probabilities(sizes)):
        assert abs(np.mean(origins == index) - p) < _tolerance(p, 3000)


def test_annealed_sampling_moves_from_proportional_towards_uniform(model):
    sampler = Annealed(num_epochs=3)
    assert sampler.probabilities([100, 900], 1).tolist() == pytest.approx([0.1, 0.9])
    expected = [sampler.probabilities([100, 900], epoch)[0] for epoch in (1, 2, 3)]
    assert expected[0] < expected[1] < expected[2] < 0.5  # alpha 1 -> 0.6 -> 0.2
    assert expected[2] == pytest.approx(100 ** 0.2 / (100 ** 0.2 + 900 ** 0.2))
    origins = _origins(model, [_dataset("a", 100), _dataset("b", 900)], sampler, 3000)
    for epoch, p in enumerate(expected):  # an epoch: 10 steps of 100 draws, the summed sizes
        share = np.mean(origins[epoch * 1000:(epoch + 1) * 1000] == 0)
        assert abs(share - p) < _tolerance(p, 1000)


def test_annealed_epochs_are_the_batches_keras_takes_per_epoch(model):
    # 1000 examples in batches of 600: a Keras epoch is 2 steps, 1200 draws (not 1000)
    sampler = Annealed(num_epochs=2)
    first, second = (sampler.probabilities([1, 999], epoch)[0] for epoch in (1, 2))
    assert first == pytest.approx(0.001) and second > 0.19
    origins = _origins(model, [_dataset("a", 1), _dataset("b", 999)], sampler, 2400, batch_size=600)
    assert np.sum(origins[:1200] == 0) <= 10  # epoch 1 throughout (draws 1000-1199 too)
    assert abs(np.mean(origins[1200:] == 0) - second) < _tolerance(second, 1200)


class _FirstThenSecond(TaskSampler):
    """Epoch 1: only dataset 0; later epochs: only dataset 1 (a custom, epoch-dependent sampler)."""

    def probabilities(self, sizes, epoch=1):
        return np.array([1.0, 0.0]) if epoch == 1 else np.array([0.0, 1.0])


@pytest.mark.parametrize("steps", [None, 2])
def test_a_custom_sampler_gets_the_probabilities_of_each_epoch(model, steps):
    kwargs = {} if steps is None else {"steps_per_epoch": steps}
    data = mix_datasets(model, [_dataset("a", 20), _dataset("b", 180)], batch_size=64,
                        sampler=_FirstThenSecond(), seed=0, shuffle_buffer=0, **kwargs)
    epoch = steps or steps_per_epoch([20, 180], 64)  # default: one pass, 4 steps
    from_a = [float(np.mean(masks["a"])) for _, _, masks in data.take(epoch + 3)]
    assert from_a == [1.0] * epoch + [0.0] * 3


def _flat(batches):
    return [[x.numpy() for x in tf.nest.flatten(batch)] for batch in batches]


def _random_dataset(task, size, seed):
    images = np.random.default_rng(seed).integers(0, 255, (size, 40, 40, 3), np.uint8)
    return tf.data.Dataset.from_tensor_slices((images, {task: np.ones(size, np.int32)}))


def test_an_epoch_indexed_mixture_resumes_where_an_uninterrupted_run_would_be(model):
    datasets = [_random_dataset("a", 12, 0), _random_dataset("b", 30, 1)]

    def stream(first_epoch, seed=3):
        return mix_datasets(model, datasets, 8, sampler=Annealed(3), shuffle_buffer=30, seed=seed,
                            augmentation=mz.data.Augmentation(scale_range=(0.7, 1.3)), epochs=3,
                            first_epoch=first_epoch)

    steps = steps_per_epoch([12, 30], 8)  # 6 batches an epoch
    tf.random.set_seed(0)
    whole = stream(0)
    whole_batches = _flat(whole)
    tf.random.set_seed(123)  # whatever the global seed when the stream is built
    resumed = stream(1)
    assert int(whole.cardinality()) == 3 * steps and int(resumed.cardinality()) == 2 * steps
    for a, b in zip(whole_batches[steps:], _flat(resumed), strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    for a, b in zip(whole_batches, _flat(whole), strict=True):  # a second iterator replays it
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    epochs = [np.concatenate([batch[0] for batch in whole_batches[i * steps:(i + 1) * steps]])
              for i in range(3)]
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert not np.array_equal(_flat(stream(1, seed=4))[0][0], whole_batches[steps][0])
    assert int(stream(3).cardinality()) == 0

    # a resumed stream is in its own epoch of the sampler's schedule, not back at epoch 1
    def switching(first_epoch):
        data = mix_datasets(model, [_dataset("a", 20), _dataset("b", 180)], 64, _FirstThenSecond(),
                            seed=0, epochs=3, first_epoch=first_epoch)
        return [float(np.mean(masks["a"])) for _, _, masks in data]

    assert switching(0) == [1.0] * 4 + [0.0] * 8 and switching(1) == [0.0] * 8
    one_dataset_per_batch = mix_datasets(model, datasets, 8, "round_robin", seed=1, epochs=2,
                                         homogeneous_batches=True)
    assert [float(np.mean(masks["a"])) for _, _, masks in one_dataset_per_batch] == [1.0, 0.0] * 6

    model.compile(optimizer="sgd")
    history = model.fit(resumed, epochs=3, initial_epoch=1, steps_per_epoch=steps, verbose=0)
    assert len(history.history["loss"]) == 2  # the stream lasts exactly the remaining epochs


@pytest.mark.parametrize("sampler,homogeneous", [
    ("round_robin", False), ("proportional", False), (Annealed(2), False), ("round_robin", True),
])
def test_a_dataset_that_turns_out_empty_stops_the_stream_with_its_name(model, sampler, homogeneous):
    empty = _dataset("b", 10).filter(lambda image, labels: False)  # unknown size: sizes= needed
    data = mix_datasets(model, [_dataset("a", 10), empty], batch_size=4, sampler=sampler,
                        sizes=[10, 10], seed=0, homogeneous_batches=homogeneous)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"dataset 1 \(tasks b\) yields no examples: check its filter"):
        for _ in data.take(50):
            pass


def test_homogeneous_batches_come_from_one_dataset_each(model):
    datasets = [_dataset("a", 40), _dataset("b", 40, (48, 20, 3))]
    data = mix_datasets(model, datasets, batch_size=8, sampler="round_robin", seed=1,
                        homogeneous_batches=True)
    for index, (images, targets, masks) in enumerate(data.take(4)):
        assert images.shape == (8, 32, 32, 3)
        assert masks["a"].numpy().tolist() == [float(index % 2 == 0)] * 8
        assert masks["c"].numpy().tolist() == [0.0] * 8 and "c" not in targets


def test_a_task_a_dataset_does_not_label_gets_no_loss_and_no_gradient():
    tasks = [mz.tasks.Classification("count", 3), mz.tasks.Detection("shapes", 2)]
    model = mz.build_model("tiny", tasks, (32, 32, 3))
    model.compile(optimizer="sgd")
    images, labels = mz.data.generate_shapes(16, image_size=40, seed=1)
    counts = tf.data.Dataset.from_tensor_slices((images, {"count": labels["count"]}))
    boxes = tf.data.Dataset.from_tensor_slices((images, {"shapes": labels["shapes"]}))
    mixed = mix_datasets(model, [counts, boxes], batch_size=8, sampler="round_robin", seed=0)
    images, targets, masks = next(iter(mixed))
    assert masks["count"].numpy().tolist() == [1.0, 0.0] * 4
    assert float(tf.reduce_max(targets["count"][1::2])) == 0  # placeholders
    assert float(tf.reduce_max(targets["shapes"]["heatmap"][::2])) == 0
    losses = model.compute_task_losses(targets, model(images), masks)[0]
    alone = model.compute_task_losses({"shapes": tf.nest.map_structure(lambda t: t[1::2],
                                                                       targets["shapes"])},
                                      model(images[1::2]), {"count": tf.zeros([4])})[0]
    assert float(losses["shapes"]) == pytest.approx(float(alone["shapes"]), rel=1e-4)

    only_counts = next(iter(mix_datasets(model, [counts, boxes], 8, "round_robin", seed=0,
                                         homogeneous_batches=True)))
    head = [v for v in model.trainable_variables if v.path.startswith("shapes_")]
    labelled_head = [v for v in model.trainable_variables if v.path.startswith("count_")]
    assert head and labelled_head
    before = [v.numpy().copy() for v in head + labelled_head]
    logs = model.train_on_batch(*only_counts, return_dict=True)
    assert logs["shapes_loss"] == 0.0 and logs["count_loss"] > 0
    after = [v.numpy() for v in head + labelled_head]
    assert all(np.array_equal(b, a) for b, a in zip(before[:len(head)], after[:len(head)]))
    assert not all(np.array_equal(b, a) for b, a in zip(before[len(head):], after[len(head):]))


def test_steps_per_epoch_covers_the_data():
    assert steps_per_epoch([100, 60], 32) == 5
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        steps_per_epoch([10], 0)
    assert steps_per_epoch(100, 32) == steps_per_epoch([np.int64(100)], 32) == 4  # one size alone too
    with pytest.raises(ValueError, match="a dataset size must be an integer >= 0, got -10"):
        steps_per_epoch([-10], 4)  # it once gave -2 steps


@pytest.mark.parametrize("datasets,kwargs,message", [
    (lambda: [], {}, "at least one dataset"),
    (lambda: [_dataset("a", 4)], {"sampler": "proportionl"}, "Did you mean 'proportional'"),
    (lambda: [_dataset("a", 4)], {"sampler": "annealed"}, "needs arguments"),
    (lambda: [_dataset("a", 4).filter(lambda i, l: True)], {}, "unknown or infinite size"),
    (lambda: [_dataset("a", 4)], {"sizes": [4, 5]}, "one size >= 1 per dataset"),
    (lambda: [_dataset("a", 20), _dataset("b", 180)], {"sizes": [180, 20]},
     r"sizes\[0\] is 180, but dataset 0 has 20 examples \(its cardinality\)"),
    (lambda: [_dataset("a", 4)], {"steps_per_epoch": 0}, "steps_per_epoch must be an integer >= 1"),
    (lambda: [_dataset("a", 4)], {"sampler": _FirstThenSecond()},
     r"probabilities\(sizes, epoch=1\) must give one probability >= 0 per dataset \(1\)"),
    (lambda: [_dataset("a", 4), _dataset("d", 4)], {}, "labels of dataset 1"),
    (lambda: _dataset("a", 4), {}, "takes a list of datasets, got one tf.data.Dataset"),
    (lambda: [_dataset("a", 4)], {"epochs": 2}, "epochs=... draws each epoch's order .* give a seed"),
    (lambda: [_dataset("a", 4)], {"first_epoch": 1, "seed": 0}, "first_epoch=1 needs epochs="),
    (lambda: [_dataset("a", 4)], {"epochs": 2, "first_epoch": 3, "seed": 0}, "first_epoch=3 is past"),
    (lambda: [_dataset("a", 4), _dataset("b", 4).repeat()], {"epochs": 2, "seed": 0},
     "the examples of dataset 1 never end"),
    (lambda: [_dataset("a", 4), _dataset("b", 9)], {"epochs": 2, "seed": 0, "shuffle_buffer": 8},
     r"shuffle_buffer=8 below a dataset's size \(9 examples\).*give shuffle_buffer >= 9"),
])
def test_bad_mixtures_are_rejected_with_the_fix(model, datasets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        mix_datasets(model, datasets(), **kwargs)


def test_concatenate_datasets_validates_on_every_example_once():
    model = mz.build_model("tiny", [mz.tasks.Classification(n, 2) for n in NAMES], (32, 32, 3))
    for variable in model.trainable_variables:  # logits far from 0, so that class 0 and 1 differ
        if variable.path.endswith("logits/bias"):
            variable.assign([2.0, -2.0])
    images = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), np.uint8)
    datasets = [tf.data.Dataset.from_tensor_slices((images[:5], {"a": np.ones(5, np.int32)})),
                tf.data.Dataset.from_tensor_slices((images[5:], {"b": np.ones(3, np.int32)}))]
    data = mz.data.concatenate_datasets(model, datasets, batch_size=4)
    assert int(data.cardinality()) == 2  # known, as Keras needs to count validation steps
    masks = [batch[2] for batch in data]
    assert np.concatenate([m["a"] for m in masks]).tolist() == [1] * 5 + [0] * 3
    assert np.concatenate([m["b"] for m in masks]).tolist() == [0] * 5 + [1] * 3
    assert not np.concatenate([m["c"] for m in masks]).any()
    model.compile(optimizer="sgd")
    mixed = model.evaluate(data, return_dict=True, verbose=0)
    for task, dataset in zip("ab", datasets):  # the placeholder targets (class 0) add nothing
        alone = model.evaluate(mz.data.build_pipeline(model, dataset, 4), return_dict=True, verbose=0)
        assert mixed[f"{task}_loss"] == pytest.approx(alone[f"{task}_loss"], rel=1e-5)
