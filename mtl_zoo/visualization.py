"""PNG plots of a training run: per-task loss curves, task weights over time, and
validation images with the decoded predictions drawn (matplotlib, no display needed).

Example:
>>> from mtl_zoo.visualization import plot_task_losses
>>> plot_task_losses({"a_loss": [2.0, 1.0], "val_a_loss": [2.1, 1.2]}, ["a"], "/tmp/l.png")
'/tmp/l.png'
"""

import matplotlib

matplotlib.use("Agg")  # files only: works on machines without a display

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

KEYPOINT_SCORE_THRESHOLD = 0.3


def _series(history, key):
    values = history.get(key)
    return None if values is None or len(values) == 0 else np.asarray(values, np.float64)


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return str(path)


def plot_task_losses(history, task_names, path):
    """One panel per task: its training (and validation, when logged) loss per epoch.

    Args:
        history: a Keras `History.history` dict (`<task>_loss`, `val_<task>_loss`).
        task_names: the tasks to plot, in order.
        path: the PNG to write.

    Returns:
        `path` as a string.

    Raises:
        ValueError: a task has no `<task>_loss` in the history.

    Example:
    >>> history = model.fit(data, epochs=5).history  # doctest: +SKIP
    >>> plot_task_losses(history, model.task_names, "losses.png")  # doctest: +SKIP
    'losses.png'
    """
    missing = [name for name in task_names if _series(history, f"{name}_loss") is None]
    if missing:
        raise ValueError(f"The training history has no losses of tasks {missing}; it has "
                         f"{sorted(history)}.")
    figure, axes = plt.subplots(1, len(task_names), figsize=(4 * len(task_names), 3.2), squeeze=False)
    for axis, name in zip(axes[0], task_names):
        train = _series(history, f"{name}_loss")
        epochs = np.arange(1, len(train) + 1)
        axis.plot(epochs, train, marker="o", label="train")
        validation = _series(history, f"val_{name}_loss")
        if validation is not None:
            axis.plot(epochs[:len(validation)], validation, marker="o", label="validation")
        axis.set(title=f"{name} loss", xlabel="epoch")
        axis.legend()
    return _save(figure, path)


def plot_task_weights(history, task_names, path):
    """The task weights (alphas, `alpha_<task>` in the history) per epoch, one line per task.

    `TaskWeightHistory` puts the alphas into the history.

    Returns:
        `path` as a string.

    Raises:
        ValueError: the history holds no alphas of a task.
    """
    missing = [name for name in task_names if _series(history, f"alpha_{name}") is None]
    if missing:
        raise ValueError(f"The training history has no alphas of tasks {missing}: train with "
                         f"the mtl_zoo.weighting.TaskWeightHistory callback.")
    figure, axis = plt.subplots(figsize=(5, 3.2))
    for name in task_names:
        alphas = _series(history, f"alpha_{name}")
        axis.plot(np.arange(1, len(alphas) + 1), alphas, marker="o", label=name)
    axis.set(title="task weights (alpha)", xlabel="epoch")
    axis.legend()
    return _save(figure, path)


def _draw_boxes(axis, task, decoded, index):
    names = getattr(task, "class_names", None)
    for box, label, score in zip(decoded["boxes"][index][:decoded["num_detections"][index]],
                                 decoded["classes"][index], decoded["scores"][index]):
        ymin, xmin, ymax, xmax = box
        axis.add_patch(matplotlib.patches.Rectangle((xmin, ymin), xmax - xmin, ymax - ymin,
                                                    fill=False, color="yellow", linewidth=1))
        name = names[label] if names else str(label)
        axis.text(xmin, ymin, f"{name} {score:.2f}", color="black", fontsize=6,
                  bbox={"facecolor": "yellow", "alpha": 0.7, "pad": 0.5, "linewidth": 0})


def _draw_keypoints(axis, decoded, index):
    for instance in decoded["keypoints"][index][:decoded["num_instances"][index]]:
        seen = instance[:, 2] >= KEYPOINT_SCORE_THRESHOLD
        axis.scatter(instance[seen, 0], instance[seen, 1], s=8, color="cyan", edgecolors="black",
                     linewidths=0.4)


def _caption(task, decoded, index):
    probabilities = decoded["probabilities"][index]
    label = int(np.argmax(probabilities))
    names = getattr(task, "class_names", None)
    return f"{task.name}: {names[label] if names else label} ({probabilities[label]:.2f})"


def draw_predictions(model, images, path, columns=4):
    """Draws `model`'s decoded predictions on `images`: boxes with class and score,
    keypoints scoring at least `KEYPOINT_SCORE_THRESHOLD`, and each classification's
    top class as a caption.

    Args:
        model: a `MultiTaskModel`.
        images: uint8 or 0-255 images (N, H, W, C) at the model's input size.
        path: the PNG to write.
        columns: images per row.

    Returns:
        `path` as a string.
    """
    images = np.asarray(images)
    decoded = model.predict_decoded(images)
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= len(images):
            continue
        image = images[index].astype(np.uint8)
        axis.imshow(image[..., 0] if image.shape[-1] == 1 else image[..., :3],
                    cmap="gray" if image.shape[-1] == 1 else None)
        captions = []
        for task in model.tasks:
            if task.kind == "detection":
                _draw_boxes(axis, task, decoded[task.name], index)
            elif task.kind == "keypoints":
                _draw_keypoints(axis, decoded[task.name], index)
            elif task.kind == "classification":
                captions.append(_caption(task, decoded[task.name], index))
        axis.set_title("\n".join(captions), fontsize=7)
    return _save(figure, path)


def plot_metric_bars(results, path, baselines=None, title=None):
    """Grouped bars of metrics per method, with error bars and baseline lines.

    Args:
        results: `{method: {metric: (mean, spread)}}`; every method has the
            same metrics.
        path: the PNG to write.
        baselines: optional `{metric: value}`, drawn as dashed lines in the
            metric's colour (e.g. single-task models).
        title: the figure title.

    Returns:
        `path` as a string.

    Example:
    >>> plot_metric_bars({"EW": {"left": (0.9, 0.01)}}, "/tmp/b.png", baselines={"left": 0.92})
    '/tmp/b.png'
    """
    if not results:
        raise ValueError("plot_metric_bars needs at least one method's results.")
    methods = list(results)
    metrics = list(results[methods[0]])
    width = 0.8 / len(metrics)
    positions = np.arange(len(methods))
    figure, axis = plt.subplots(figsize=(max(5.0, 1.2 * len(methods) + 1), 3.6))
    for index, metric in enumerate(metrics):
        means = [results[method][metric][0] for method in methods]
        spreads = [results[method][metric][1] for method in methods]
        bars = axis.bar(positions + (index - (len(metrics) - 1) / 2) * width, means, width,
                        yerr=spreads, capsize=3, label=metric)
        if baselines and metric in baselines:
            axis.axhline(baselines[metric], color=bars.patches[0].get_facecolor(), linestyle="--",
                         linewidth=1, label=f"{metric} (baseline)")
    values = [results[m][k][0] for m in methods for k in metrics] + list((baselines or {}).values())
    spread = max(max(values) - min(values), 0.01)
    axis.set_ylim(min(values) - 1.5 * spread, max(values) + 1.0 * spread)
    axis.set_xticks(positions, methods)
    axis.legend(fontsize="small", ncol=2)
    if title:
        axis.set_title(title, fontsize="small")
    return _save(figure, path)
