"""GradNorm (Chen et al. 2018, "GradNorm: Gradient Normalization for Adaptive Loss
Balancing in Deep Multitask Networks", ICML)."""

import numpy as np

from mtl_zoo.weighting.callback import TaskWeightCallback


class GradNorm(TaskWeightCallback):
    """Tunes the task weights so that each task's weighted gradient norm G_i on the
    shared trunk tracks mean(G) * r_i^alpha, where r_i is the task's relative inverse
    training rate (L_i(t) / L_i(0), divided by its mean over tasks). After every
    batch it takes one gradient step on sum_i |G_i - target_i| with respect to
    the weights (the targets held constant, as in the paper) and renormalises the
    weights to sum to T.

    The norms are taken on the parameters of `layer`, the paper's "last shared
    layer", or, by default, on all shared trunk parameters (as LibMTL does; with
    heads on different pyramid levels no single layer is last for every task).
    The model computes them each step (one backward pass per task). The initial
    losses L_i(0) are kept in the model's `task_loss_history`; a task's is taken
    from the first batch that labels it, and until then the task keeps its weight
    (the others are balanced among themselves, keeping their sum).

    Args:
        alpha: asymmetry: how strongly slow tasks are pulled up (paper: 0.12 to 3).
        learning_rate: step size of the weight update.
        layer: optional name of the shared layer whose parameters the norms use.

    Example:
    >>> model.fit(ds, callbacks=[GradNorm(alpha=1.5)])  # doctest: +SKIP
    """

    def __init__(self, alpha=1.5, learning_rate=0.025, layer=None):
        super().__init__()
        if alpha < 0:
            raise ValueError(f"GradNorm: alpha must be >= 0, got {alpha}.")
        self.alpha = float(alpha)
        self.learning_rate = float(learning_rate)
        self.layer = layer

    def on_train_begin(self, logs=None):
        self.model.request_gradient_statistics(layer=self.layer)

    def on_train_batch_end(self, batch, logs=None):
        seen = self.labelled_tasks()
        losses = self.task_losses(logs)
        rows = self.history_rows()
        first_seen = seen & ~(rows[0] > 0)
        if first_seen.any():
            rows[0][first_seen] = np.maximum(losses[first_seen], 1e-8)
            self.set_history_rows(rows)
        if seen.sum() < 2:
            return
        norms = np.array([float(logs[f"grad_norm_{name}"]) for name in self.task_names])[seen]
        weights = self.current_weights()
        ratios = losses[seen] / rows[0][seen]
        targets = norms.mean() * (ratios / ratios.mean()) ** self.alpha
        gradient = np.sign(norms - targets) * norms / np.maximum(weights[seen], 1e-8)
        updated = np.maximum(weights[seen] - self.learning_rate * gradient, 1e-3)
        total = len(weights) if seen.all() else weights[seen].sum()
        weights[seen] = total * updated / updated.sum()
        self.assign(weights)
