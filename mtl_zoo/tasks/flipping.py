"""Left/right keypoint pairs: their validation and the index permutation of a horizontal flip."""


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
