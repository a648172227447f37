"""The gradient aggregators on matrices worked by hand, and their defining properties."""

import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz

W = mz.weighting
CONFLICT = np.array([[1.0, 0.0], [-1.0, 1.0]], "float32")
ORTHOGONAL = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")


def _random_gradients(seed, tasks=3, size=50, conflict=True):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((tasks, size)).astype("float32")
    if conflict:
        g[1] -= 1.5 * g[0]  # make tasks 0 and 1 conflict
    return g


@pytest.mark.parametrize("aggregator,expected", [
    (W.PCGrad(), [0.5, 1.5]),                  # g1 + g2/2 and g2 + g1, worked by hand
    (W.MGDA(), [0.4, 0.8]),                    # min-norm point 0.6 g1 + 0.4 g2, times T = 2
    (W.UPGrad(), [0.5, 1.5]),                  # projections onto the dual cone
    (W.GradVac(), [0.5, 1.5]),                 # targets 0: pulls cosines up to 0 like PCGrad
    (W.IMTLG(), [0.3431, 0.8284]),
    (W.CAGrad(c=0.0), [0.0, 1.0]),             # c = 0: the plain sum
])
def test_aggregators_on_a_conflicting_pair(aggregator, expected):
    np.testing.assert_allclose(aggregator(CONFLICT).numpy(), expected, atol=1e-3)


def test_every_aggregator_returns_the_sum_of_identical_gradients_up_to_scale():
    identical = np.array([[1.0, 2.0, -1.0]] * 3, "float32")
    for name, cls in W.AGGREGATORS.items():
        direction = cls()(identical).numpy()
        cosine = direction @ identical[0] / np.linalg.norm(direction) / np.linalg.norm(identical[0])
        assert cosine == pytest.approx(1.0, abs=1e-5), name


def test_mgda_finds_the_min_norm_point_of_the_hull():
    g = _random_gradients(1)
    direction = W.MGDA(mode="parameters")(g).numpy() / 3
    # the min-norm point d satisfies g_i . d >= |d|^2 for every task (optimality)
    assert np.all(g @ direction >= np.dot(direction, direction) - 1e-3)
    # and no point of the simplex grid does better
    rng = np.random.default_rng(0)
    for weights in rng.dirichlet(np.ones(3), size=200):
        assert np.linalg.norm(weights @ g) >= np.linalg.norm(direction) - 1e-4


def test_mgda_normalizations():
    g = np.array([[2.0, 0.0], [0.0, 1.0]], "float32")
    np.testing.assert_allclose(W.MGDA(normalization="l2")(g).numpy(), [1.0, 1.0], atol=1e-4)
    with pytest.raises(ValueError, match="unknown normalization"):
        W.MGDA(normalization="max")


def test_imtl_makes_equal_projections_on_unit_gradients():
    g = _random_gradients(2)
    direction = W.IMTLG()(g).numpy()
    projections = (g / np.linalg.norm(g, axis=1, keepdims=True)) @ direction
    np.testing.assert_allclose(projections, projections[0], rtol=1e-3)


def test_nash_weights_solve_the_bargaining_equation():
    g = _random_gradients(3, conflict=False)
    weights = W.nash_mtl.nash_weights(g @ g.T).numpy()
    np.testing.assert_allclose((g @ g.T) @ weights, 1.0 / weights, rtol=1e-3)
    direction = W.NashMTL()(g).numpy()
    np.testing.assert_allclose(g @ direction, 1.0 / weights, rtol=1e-3)  # g_i . d = 1 / alpha_i
    np.testing.assert_allclose(W.NashMTL()(ORTHOGONAL).numpy(), [1.0, 1.0], atol=1e-4)
    with pytest.raises(ValueError, match=r"NashMTL works only in mode \('parameters',\): its "
                                         r"direction has a fixed size .* Use mode='parameters'"):
        W.NashMTL(mode="representation")


def test_upgrad_and_pcgrad_on_two_tasks_conflict_with_no_task():
    for seed in range(5):
        g = _random_gradients(seed, tasks=2)
        for aggregator in (W.UPGrad(), W.PCGrad(), W.MGDA(mode="parameters")):
            assert np.all(g @ aggregator(g, step=seed).numpy() >= -1e-4), aggregator


def test_cagrad_improves_the_worst_task_over_the_average_direction():
    g = _random_gradients(4)
    mean = g.mean(0)
    direction = W.CAGrad(c=0.5)(g).numpy()
    assert np.min(g @ direction) / np.linalg.norm(direction) > np.min(g @ mean) / np.linalg.norm(mean)
    with pytest.raises(ValueError, match="c must be in"):
        W.CAGrad(c=1.5)


def test_aligned_mtl_equalises_the_singular_values():
    np.testing.assert_allclose(W.AlignedMTL()(ORTHOGONAL).numpy(), [1.0, 1.0], atol=1e-4)
    g = _random_gradients(5, conflict=False)
    direction = W.AlignedMTL()(g).numpy()
    assert np.all(np.isfinite(direction)) and np.linalg.norm(direction) > 0


def test_gradvac_moves_targets_towards_observed_similarities():
    aggregator = W.GradVac(beta=0.5)
    g = _random_gradients(6)
    aggregator(g)
    cosine = g[0] @ g[1] / np.linalg.norm(g[0]) / np.linalg.norm(g[1])
    assert aggregator.targets.numpy()[1, 0] == pytest.approx(0.5 * cosine, rel=1e-4)
    assert np.all(np.diag(aggregator.targets.numpy()) == 0)


def test_graddrop_keeps_one_sign_per_coordinate():
    g = np.array([[1.0, 2.0, -1.0], [-3.0, 1.0, -2.0]], "float32")
    direction = W.GradDrop()(g, step=3).numpy()
    assert direction[0] in (1.0, -3.0)          # conflicting coordinate: one sign survives
    np.testing.assert_allclose(direction[1:], [3.0, -3.0])   # agreeing coordinates: the sum


def _batch_activations(values, num_features):
    """`Activations` of batch-major `values`: column c holds feature c % num_features."""
    values = tf.constant(values, tf.float32)
    return W.Activations(values, tf.range(tf.size(values)) % num_features, tf.constant(num_features))


def test_graddrop_decides_per_feature_from_the_sign_weighted_batch_sums():
    # one feature in two examples with activations +1 and -1: G_first = 1 - 1 = 0 and
    # G_second = 1 + 1 = 2, so P = 1 and only `second` (G > 0) keeps its gradient, in both
    # examples; taken per column without sign(A), the first column would keep the sum [2, .]
    g = np.array([[1.0, 1.0], [1.0, -1.0]], "float32")
    activations = _batch_activations([1.0, -1.0], num_features=1)
    for step in range(5):
        np.testing.assert_allclose(W.GradDrop()(g, step=step, activations=activations).numpy(), [1.0, -1.0])
    assert W.GradDrop()(g, step=0).numpy()[0] == 2.0


def test_graddrop_keeps_or_drops_a_task_in_every_example_of_a_feature():
    # feature 0: tasks disagree (G = +2 and -4, P = 1/3); feature 1: both positive (kept)
    g = np.array([[1.0, 1.0, 1.0, 2.0], [-2.0, 3.0, -2.0, 1.0]], "float32")
    activations = _batch_activations([0.5, 2.0, 0.1, 1.0], num_features=2)
    outcomes = {tuple(W.GradDrop()(g, step=step, activations=activations).numpy()) for step in range(40)}
    assert outcomes == {(1.0, 4.0, 1.0, 3.0), (-2.0, 4.0, -2.0, 3.0)}  # each sign drawn, never mixed


def test_graddrop_activations_of_zero_do_not_vote():
    g = np.array([[5.0, -1.0], [-1.0, -1.0]], "float32")
    # the first example's activation is 0 (a ReLU that is off): only the second one counts,
    # where both tasks are negative, so both keep their gradients everywhere
    activations = _batch_activations([0.0, 1.0], num_features=1)
    np.testing.assert_allclose(W.GradDrop()(g, step=1, activations=activations).numpy(), [4.0, -2.0])


def test_graddrop_leak_passes_dropped_gradients():
    g = np.array([[1.0, -2.0], [-3.0, 1.0]], "float32")
    np.testing.assert_allclose(W.GradDrop(leak=1.0)(g).numpy(), g.sum(0))
    # `first` leaks fully: it is always there, `second` only where its sign wins
    for step in range(10):
        direction = W.GradDrop(leak=[1.0, 0.0])(g, step=step).numpy()
        assert all(value in (first, first + second) for value, first, second in zip(direction, g[0], g[1]))
    with pytest.raises(ValueError, match="leak must be"):
        W.GradDrop(leak=1.5)
    with pytest.raises(ValueError, match="3 values for 2 tasks"):
        W.GradDrop(leak=[0.0, 0.5, 1.0])(g)


def test_representation_activations_number_the_features_of_each_tensor():
    from mtl_zoo.weighting.task_gradients import representation_activations

    a = tf.reshape(tf.range(12, dtype=tf.float32), [2, 3, 2])
    b = -tf.ones([2, 1])
    activations = representation_activations([a, b])
    assert int(activations.num_features) == 7
    assert activations.features.numpy().tolist() == [0, 1, 2, 3, 4, 5] * 2 + [6, 6]
    np.testing.assert_array_equal(activations.values.numpy(), list(range(12)) + [-1, -1])


def test_randomised_aggregators_are_repeatable_for_a_step():
    g = _random_gradients(7, tasks=4)
    for aggregator in (W.PCGrad(), W.GradDrop()):
        np.testing.assert_array_equal(aggregator(g, step=11).numpy(), aggregator(g, step=11).numpy())


def test_aggregator_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown mode"):
        W.PCGrad(mode="layers")
    with pytest.raises(ValueError, match="several tasks"):
        W.PCGrad().build(1)
    with pytest.raises(ValueError, match="beta"):
        W.GradVac(beta=0.0)
    for make, message in [(lambda: W.NashMTL(iterations=0), "NashMTL: iterations must be an integer >= 1, got 0"),
                          (lambda: W.MGDA(iterations=-1), "MGDA: iterations must be an integer >= 1, got -1"),
                          (lambda: W.CAGrad(iterations=2.5), "CAGrad: iterations must be an integer >= 1"),
                          (lambda: W.UPGrad(iterations="9"), "UPGrad: iterations must be an integer >= 1"),
                          (lambda: W.NashMTL(max_norm=-1), "NashMTL: max_norm must be a finite number >= 0.0"),
                          (lambda: W.GradNorm(learning_rate=float("nan")),
                           "GradNorm: learning_rate must be a finite number >= 0.0, got nan")]:
        with pytest.raises(ValueError, match=message):
            make()
