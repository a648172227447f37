"""The gradient aggregators on matrices worked by hand, and their defining properties."""

import numpy as np
import pytest

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
