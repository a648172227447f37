"""tf.data pipelines from in-memory arrays."""

import tensorflow as tf


def dataset_from_arrays(model, images, labels, batch_size=32, shuffle=False, seed=None,
                        masks=None):
    """A batched dataset of `(images, {task: targets}[, masks])` for `model.fit`.

    Raw labels are encoded by the model's own tasks (`model.encode_labels`)
    in parallel, then batched and prefetched.

    Args:
        model: a `MultiTaskModel` (its tasks encode the labels).
        images: (N, H, W, C) uint8 images at the model's input size.
        labels: `{task_name: raw labels with a leading N axis}`.
        batch_size: examples per batch.
        shuffle: shuffle each epoch (seeded by `seed`).
        seed: shuffle seed.
        masks: optional `{task_name: (N,) 0/1}` per-example task masks.

    Example:
    >>> ds = dataset_from_arrays(model, images, labels, batch_size=16)  # doctest: +SKIP
    """
    count = len(images)
    if count == 0:
        raise ValueError("dataset_from_arrays got no images.")
    if tuple(images.shape[1:]) != model.image_shape:
        raise ValueError(f"Images have shape {tuple(images.shape[1:])}, the model takes "
                         f"{model.image_shape}.")
    elements = (images, labels) if masks is None else (images, labels, masks)
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)

    def encode(image, raw, *mask):
        return (image, model.encode_labels(raw), *mask)

    dataset = dataset.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
