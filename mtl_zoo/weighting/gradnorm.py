"""GradNorm (Chen et al. 2018, "GradNorm: Gradient Normalization for Adaptive Loss
Balancing in Deep Multitask Networks", ICML)."""

import numpy as np

from mtl_zoo.checks import check_number
from mtl_zoo.weighting.callback import TaskWeightCallback


class GradNorm(TaskWeightCallback):
    """Tunes the task weights so that each task's weighted gradient norm G_i on the
    shared trunk tracks mean(G) * r_i^alpha, where r_i is the task's relative inverse
    training rate (L_i(t) / L_i(0), divided by its mean over tasks). After every
    batch it takes one step on sum_i |G_i - target_i| with respect to the weights
    (the targets held constant, as in the paper) and renormalises the weights to
    sum to T.

    The gradient of that loss with respect to w_i is sign(G_i - target_i) *
    ||grad L_i|| (the paper's Eq. 2), whose size follows the gradients' scale.
    Here it is divided by mean(G), so that a step moves a weight by about
    `learning_rate` whatever that scale; the paper (and LibMTL, with the model's
    Adam) instead updates the weights with the model's optimizer.

    Only the tasks labelled in the batch take part in a step, seen by G_i > 0 (an
    unlabelled task adds a zero loss, so a zero gradient); the others keep their
    weights, and the participants keep their previous sum (T when every task takes
    part). A step with fewer than two participants changes nothing, and so does one
    whose norms are not all finite (a mixed-precision loss-scale overflow, a step
    the optimizer skips too).

    The norms are taken on the parameters of `layer`, the paper's "last shared
    layer", or, by default, on all shared trunk parameters (as LibMTL does; with
    heads on different pyramid levels no single layer is last for every task).
    The model computes them each step (one backward pass per task). L_i(t) is the
    task's running mean loss over the epoch so far (the logged `<task>_loss`;
    the paper uses the loss of the step), and the initial loss L_i(0), kept in the
    model's `task_loss_history`, that of the first batch that labels the task.
    With `compile(steps_per_execution=k)` Keras calls the callback once per k
    steps: the weights are updated every k steps, from the last one's norms.
    While the shared layers are frozen (`mtl_zoo.unfreeze_at`), there are no
    norms and the weights stay as they are; the initial losses L_i(0) are then
    those of the first batches after the unfreezing, so that the training rates
    count from when GradNorm starts balancing, not what the heads learned on the
    frozen trunk.

    Args:
        alpha: asymmetry: how strongly slow tasks are pulled up (paper: 0.12 to 3).
        learning_rate: about how far one step moves a weight.
        layer: optional name of the shared layer whose parameters the norms use.

    Example:
    >>> model.fit(ds, callbacks=[GradNorm(alpha=1.5)])  # doctest: +SKIP
    """

    def __init__(self, alpha=1.5, learning_rate=0.025, layer=None):
        super().__init__()
        if alpha < 0:
            raise ValueError(f"GradNorm: alpha must be >= 0, got {alpha}.")
        self.alpha = float(alpha)
        self.learning_rate = check_number(learning_rate, "learning_rate", low=0.0, owner="GradNorm")
        self.layer = layer

    def on_train_begin(self, logs=None):
        self.model.request_gradient_statistics(layer=self.layer)

    def on_train_end(self, logs=None):
        self.model.release_gradient_statistics()

    def on_train_batch_end(self, batch, logs=None):
        if f"grad_norm_{self.task_names[0]}" not in logs:  # the shared layers are still frozen
            return
        losses = self.task_losses(logs)
        rows = self.history_rows()
        first_seen = self.labelled_tasks() & ~(rows[0] > 0)
        if first_seen.any():
            rows[0][first_seen] = np.maximum(losses[first_seen], 1e-8)
            self.set_history_rows(rows)
        norms = np.array([float(logs[f"grad_norm_{name}"]) for name in self.task_names])
        self.assign(self.updated_weights(self.current_weights(), norms,
                                         losses / np.maximum(rows[0], 1e-8)))

    def updated_weights(self, weights, norms, loss_ratios):
        """One GradNorm step: the new weights, in task order, from the current ones,
        the weighted gradient norms G_i of the step and the loss ratios L_i(t) / L_i(0).

        Example: without asymmetry (alpha 0) the target is mean(G) for each task; the
        third task, with G = 0, had no labelled example and keeps its weight.
        >>> GradNorm(alpha=0.0, learning_rate=0.1).updated_weights(
        ...     np.ones(3), norms=np.array([3.0, 1.0, 0.0]), loss_ratios=np.ones(3)).round(3)
        array([0.895, 1.105, 1.   ])
        """
        weights = np.array(weights, dtype=float)
        part = norms > 0
        if part.sum() < 2 or not np.all(np.isfinite(norms)):
            return weights
        norms, ratios = norms[part], loss_ratios[part]
        mean_norm = norms.mean()
        targets = mean_norm * (ratios / ratios.mean()) ** self.alpha
        # G_i = w_i ||grad L_i||, so w_i > 0 for a participant
        gradient = np.sign(norms - targets) * norms / weights[part] / mean_norm
        updated = np.maximum(weights[part] - self.learning_rate * gradient, 1e-3)
        total = len(weights) if part.all() else weights[part].sum()
        weights[part] = total * updated / updated.sum()
        return weights
