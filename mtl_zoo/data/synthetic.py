"""Generated arrays of simple shapes: a no-download dataset for demos and tests.

Each image shows 1 to `max_objects` filled rectangles and ellipses on a noisy
background. Labels, in the raw formats the tasks' encoders take:

  * "count": the number of shapes minus one (an image-level class);
  * "shapes": `{"boxes": (max_objects, 4) normalised [ymin, xmin, ymax, xmax],
    "classes": (max_objects,)}`, class 0 rectangle, 1 ellipse, -1 padding;
  * "extremes": `{"keypoints": (max_objects, 4, 3)}`, the top, left, right and
    bottom points of each shape as normalised (x, y, visibility).
"""

import numpy as np

SHAPE_CLASSES = ("rectangle", "ellipse")
EXTREME_POINTS = ("top", "left", "right", "bottom")
SHAPE_FLIP_PAIRS = ((1, 2),)


def _draw(image, shape_class, top, left, height, width, colour):
    ys, xs = np.ogrid[top:top + height, left:left + width]
    if shape_class == 0:
        inside = np.ones((height, width), bool)
    else:
        cy, cx = top + (height - 1) / 2, left + (width - 1) / 2
        inside = ((ys - cy) / (height / 2)) ** 2 + ((xs - cx) / (width / 2)) ** 2 <= 1.0
    image[top:top + height, left:left + width][inside] = colour


def generate_shapes(num_examples, image_size=64, max_objects=3, seed=0):
    """Returns `(images, labels)`: uint8 (N, S, S, 3) images and the raw labels above.

    Deterministic for a given seed.

    Example:
    >>> images, labels = generate_shapes(4, image_size=64, seed=1)
    >>> images.shape, labels["shapes"]["boxes"].shape
    ((4, 64, 64, 3), (4, 3, 4))
    """
    if num_examples < 1:
        raise ValueError(f"num_examples must be >= 1, got {num_examples}.")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16 pixels, got {image_size}.")
    rng = np.random.default_rng(seed)
    size = int(image_size)
    images = rng.integers(0, 60, (num_examples, size, size, 3)).astype(np.uint8)
    count = np.zeros(num_examples, np.int32)
    boxes = np.zeros((num_examples, max_objects, 4), np.float32)
    classes = np.full((num_examples, max_objects), -1, np.int32)
    keypoints = np.zeros((num_examples, max_objects, len(EXTREME_POINTS), 3), np.float32)
    for n in range(num_examples):
        objects = int(rng.integers(1, max_objects + 1))
        count[n] = objects - 1
        for k in range(objects):
            height, width = (int(v) for v in rng.integers(size // 6, size // 2.5, 2))
            top, left = int(rng.integers(0, size - height)), int(rng.integers(0, size - width))
            shape_class = int(rng.integers(0, len(SHAPE_CLASSES)))
            _draw(images[n], shape_class, top, left, height, width, rng.integers(90, 256, 3))
            ymin, xmin, ymax, xmax = top / size, left / size, (top + height) / size, (left + width) / size
            boxes[n, k] = (ymin, xmin, ymax, xmax)
            classes[n, k] = shape_class
            cy, cx = (ymin + ymax) / 2, (xmin + xmax) / 2
            keypoints[n, k] = [(cx, ymin, 2), (xmin, cy, 2), (xmax, cy, 2), (cx, ymax, 2)]
    labels = {"count": count, "shapes": {"boxes": boxes, "classes": classes},
              "extremes": {"keypoints": keypoints}}
    return images, labels
