"""Left/right keypoint pairs: validation and horizontal flipping of labels."""

import tensorflow as tf


def check_flip_pairs(flip_pairs, num_points, task_name):
    """Validates `flip_pairs` and returns them as a list of (left, right) int tuples."""
    pairs = [tuple(int(i) for i in pair) for pair in (flip_pairs or [])]
    seen = set()
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ValueError(f"Task {task_name!r}: flip pair {pair} must be two different indices.")
        for index in pair:
            if not 0 <= index < num_points:
                raise ValueError(
                    f"Task {task_name!r}: flip pair {pair} names keypoint {index}, but there are "
                    f"only {num_points} (indices 0..{num_points - 1}).")
            if index in seen:
                raise ValueError(f"Task {task_name!r}: keypoint {index} appears in two flip pairs.")
            seen.add(index)
    return pairs


def flip_permutation(num_points, flip_pairs):
    """The index permutation that swaps every (left, right) pair."""
    permutation = list(range(num_points))
    for left, right in flip_pairs:
        permutation[left], permutation[right] = right, left
    return permutation


def flip_keypoints_horizontally(keypoints, flip_pairs):
    """Mirrors normalised (..., K, 3) (x, y, visibility) keypoints: x -> 1 - x, pairs swapped.

    Example:
    >>> flip_keypoints_horizontally([[0.2, 0.5, 2.0], [0.7, 0.5, 1.0]], [(0, 1)]).numpy().tolist()
    [[0.30000001192092896, 0.5, 1.0], [0.800000011920929, 0.5, 2.0]]
    """
    keypoints = tf.convert_to_tensor(keypoints, tf.float32)
    mirrored = tf.concat([1.0 - keypoints[..., :1], keypoints[..., 1:]], axis=-1)
    permutation = flip_permutation(keypoints.shape[-2], flip_pairs)
    return tf.gather(mirrored, permutation, axis=-2)
