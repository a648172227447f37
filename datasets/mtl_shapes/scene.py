"""Drawing one `mtl_shapes` example with numpy: background texture, stick figure, distractor shapes.

Everything is drawn in pixel coordinates (x right, y down; pixel (i, j)
covers [j, j + 1) x [i, i + 1)) and every random choice comes from the
`numpy.random.Generator` passed in, so an example is a pure function of its
generator's seed.
"""

import numpy as np

from mtl_zoo.dataset_builders.mtl_shapes import skeleton

SHAPE_CLASSES = ("rectangle", "ellipse", "triangle")
OBJECT_CLASSES = ("person",) + SHAPE_CLASSES  # detection classes
SEGMENTATION_CLASSES = ("background",) + OBJECT_CLASSES  # mask value = detection class + 1
TEXTURES = ("noise", "stripes", "gradient", "checkerboard")
MAX_DISTRACTORS = 3
OCCLUDER_PROBABILITY = 0.5  # chance that a distractor is drawn in front of the figure
CUT_OFF_PROBABILITY = 0.15  # chance that the figure is placed partly outside the image


def _pixel_centres(size):
    """(ys, xs) grids of pixel centres, each (size, size)."""
    centres = np.arange(size) + 0.5
    return np.meshgrid(centres, centres, indexing="ij")


def _dark_colour(rng):
    return rng.uniform(0, 110, 3)


def _bright_colour(rng):
    """An RGB colour with at least one channel >= 150, so it stands out from the dark background."""
    colour = rng.uniform(40, 256, 3)
    colour[rng.integers(3)] = rng.uniform(150, 256)
    return colour


def draw_texture(rng, size):
    """A (size, size, 3) float background: blotchy noise, stripes, a gradient or a checkerboard, all dark.

    No per-pixel grain: it would not change the tasks and would triple the PNG size.

    Example:
    >>> draw_texture(np.random.default_rng(0), 32).shape
    (32, 32, 3)
    """
    ys, xs = _pixel_centres(size)
    low, high = _dark_colour(rng), _dark_colour(rng)
    kind = TEXTURES[rng.integers(len(TEXTURES))]
    angle = rng.uniform(0, np.pi)
    along = (xs * np.cos(angle) + ys * np.sin(angle)) / size
    if kind == "noise":
        cell = int(rng.integers(2, 9))  # blotches of cell x cell pixels
        blend = rng.random((size // cell + 1,) * 2).repeat(cell, 0).repeat(cell, 1)[:size, :size]
    elif kind == "stripes":
        blend = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 8) * along)
    elif kind == "gradient":
        blend = (along - along.min()) / (np.ptp(along) + 1e-9)
    else:
        cell = rng.integers(4, max(5, size // 6))
        blend = ((ys // cell + xs // cell) % 2).astype(float)
    return low + blend[..., None] * (high - low)


def capsule(size, start, end, radius):
    """Boolean (size, size) mask of pixels whose centre is within `radius` of the segment start-end.

    Only the segment's bounding window is computed.

    Args:
      size: image side in pixels.
      start, end: (x, y) end points in pixels.
      radius: half the line thickness in pixels.
    """
    start, end = np.asarray(start, float), np.asarray(end, float)
    mask = np.zeros((size, size), bool)
    (x0, y0), (x1, y1) = np.minimum(start, end) - radius, np.maximum(start, end) + radius
    rows = np.arange(max(int(y0), 0), min(int(np.ceil(y1)) + 1, size))
    cols = np.arange(max(int(x0), 0), min(int(np.ceil(x1)) + 1, size))
    if rows.size == 0 or cols.size == 0:
        return mask
    ys, xs = rows[:, None] + 0.5, cols[None, :] + 0.5
    direction = end - start
    length2 = max(float(direction @ direction), 1e-9)
    t = np.clip(((xs - start[0]) * direction[0] + (ys - start[1]) * direction[1]) / length2, 0, 1)
    dx, dy = xs - (start[0] + t * direction[0]), ys - (start[1] + t * direction[1])
    mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = dx * dx + dy * dy <= radius * radius
    return mask


def disc(size, centre, radius):
    """Boolean (size, size) mask of pixels whose centre is within `radius` of `centre` (x, y)."""
    return capsule(size, centre, centre, radius)


def figure_mask(size, keypoints, height):
    """Boolean mask of a stick figure: a head disc and a thick line per bone.

    Args:
      size: image side in pixels.
      keypoints: (K, 2) (x, y) in pixels, in `skeleton.KEYPOINT_NAMES` order.
      height: the figure's height in pixels (sets head size and line thickness).
    """
    radius = max(1.0, 0.025 * height)
    mask = disc(size, keypoints[0], max(2.0, skeleton.HEAD_RADIUS * height))
    pelvis = (keypoints[8] + keypoints[9]) / 2
    mask |= capsule(size, keypoints[1], pelvis, radius)
    for a, b in skeleton.BONES:
        mask |= capsule(size, keypoints[a], keypoints[b], radius)
    return mask


def shape_mask(rng, size, shape_class):
    """Boolean mask of one axis-aligned rectangle or ellipse, or a triangle, fully inside the image."""
    ys, xs = _pixel_centres(size)
    height, width = rng.uniform(0.12, 0.35, 2) * size
    top, left = rng.uniform(0, size - height), rng.uniform(0, size - width)
    if SHAPE_CLASSES[shape_class] == "rectangle":
        return (ys >= top) & (ys < top + height) & (xs >= left) & (xs < left + width)
    if SHAPE_CLASSES[shape_class] == "ellipse":
        cy, cx = top + height / 2, left + width / 2
        return ((ys - cy) / (height / 2)) ** 2 + ((xs - cx) / (width / 2)) ** 2 <= 1.0
    corners = np.stack([left + rng.uniform(0, 1, 3) * width, top + np.array([0.0, 1.0, 1.0]) * height], -1)
    corners[1, 0], corners[2, 0] = left, left + width  # base spans the width, apex anywhere above it
    inside = np.ones((size, size), bool)
    for k in range(3):
        (x0, y0), (x1, y1), (x2, y2) = corners[k], corners[(k + 1) % 3], corners[(k + 2) % 3]
        edge = (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0)
        inside &= edge * ((x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)) >= 0
    return inside


def place_figure(rng, size, pose):
    """Scales and moves a pose (figure heights, pelvis at 0) into pixels; returns (keypoints, height).

    The figure's height is 45-90% of the image; it fits inside the image
    except with probability `CUT_OFF_PROBABILITY`, where it may stick out
    by up to a third of its extent (those keypoints become unlabelled).
    """
    height = rng.uniform(0.45, 0.9) * size
    points = pose * height
    margin = max(2.0, skeleton.HEAD_RADIUS * height) + 1
    low, high = points.min(0) - margin, points.max(0) + margin
    extent = high - low
    if rng.random() < CUT_OFF_PROBABILITY:
        corner = rng.uniform(-extent / 3, size - 2 * extent / 3)
    else:
        corner = rng.uniform(0, np.maximum(size - extent, 0))
    return points - low + corner, height


def tight_box(mask):
    """Normalised [ymin, xmin, ymax, xmax] of a non-empty boolean (size, size) mask's pixels."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    size = mask.shape[0]
    return np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1], np.float32) / size


def keypoint_labels(keypoints, size, segmentation):
    """(K, 3) normalised (x, y, visibility): 0 outside the image (x, y zeroed), 1 covered by a shape, 2 visible."""
    labels = np.zeros((len(keypoints), 3), np.float32)
    for k, (x, y) in enumerate(keypoints):
        if 0 <= x < size and 0 <= y < size:
            visible = segmentation[int(y), int(x)] == SEGMENTATION_CLASSES.index("person")
            labels[k] = (x / size, y / size, 2 if visible else 1)
    return labels


def generate_example(rng, size):
    """One example as numpy arrays, drawn from `rng` at `size` x `size` pixels.

    One figure and 0-3 distractor shapes are drawn in a random order over a
    texture; each distractor drawn after the figure occludes it. Boxes are the
    tight boxes of each object's drawn pixels before later objects cover them,
    so every mask pixel of a class lies in a box of that class.

    Returns:
      A dict: "image" uint8 (size, size, 3); "segmentation" uint8 (size, size)
      with values from `SEGMENTATION_CLASSES`; "action" an index into
      `skeleton.ACTIONS`; "boxes" (N, 4) and "classes" (N,) of all objects,
      the figure first; "person_boxes" (1, 4) and "keypoints" (1, K, 3).

    Example:
    >>> example = generate_example(np.random.default_rng(0), 64)
    >>> example["image"].shape, example["keypoints"].shape
    ((64, 64, 3), (1, 14, 3))
    """
    image = draw_texture(rng, size)
    segmentation = np.zeros((size, size), np.uint8)
    action = int(rng.integers(len(skeleton.ACTIONS)))
    keypoints, height = place_figure(rng, size, skeleton.sample_pose(rng, skeleton.ACTIONS[action]))
    figure = figure_mask(size, keypoints, height)
    shapes = [int(c) for c in rng.integers(len(SHAPE_CLASSES), size=rng.integers(MAX_DISTRACTORS + 1))]
    in_front = rng.random(len(shapes)) < OCCLUDER_PROBABILITY
    layers = ([c for c, front in zip(shapes, in_front) if not front] + [None]
              + [c for c, front in zip(shapes, in_front) if front])  # None is the figure
    boxes, classes = [], []
    for shape_class in layers:
        if shape_class is None:
            mask, detection_class = figure, 0
        else:
            mask, detection_class = shape_mask(rng, size, shape_class), shape_class + 1
        image[mask] = _bright_colour(rng)
        segmentation[mask] = detection_class + 1
        boxes.append(tight_box(mask))
        classes.append(detection_class)
    first = layers.index(None)
    order = [first] + [i for i in range(len(layers)) if i != first]
    return {
        "image": np.clip(np.round(image), 0, 255).astype(np.uint8),  # 255.7 must not wrap to 0
        "segmentation": segmentation,
        "action": action,
        "boxes": np.stack(boxes)[order],
        "classes": np.array(classes, np.int64)[order],
        "person_boxes": boxes[first][None],
        "keypoints": keypoint_labels(keypoints, size, segmentation)[None],
    }
