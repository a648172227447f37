"""The serving functions: images in, decoded (or raw) flat outputs out, all in TF ops.

Every function checks its input with `tf.debugging` assertions, so a bad
request fails with an `InvalidArgumentError` that says what was wrong, and
the server keeps running.
"""

import numbers

import tensorflow as tf

from mtl_zoo.data.transform import GeometricTransform, check_resize_mode
from mtl_zoo.tasks.base import ImageMapping

# Signature name -> (input name, what the input is).
SIGNATURES = {
    "serving_default": ("images", "uint8 (B, H, W, C) images of any size; decoded outputs"),
    "serving_bytes": ("image_bytes", "string (B,) encoded JPEG / PNG / GIF / BMP images; "
                                     "decoded outputs"),
    "serving_raw": ("images", "uint8 (B, H, W, C) images of any size; raw head outputs"),
}
IMAGE_SIZE_OUTPUT = "image_size"

# The first bytes of each format tf.io.decode_image reads.
_MAGIC_BYTES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM")


def input_signature(name):
    """The `tf.TensorSpec` list of serving signature `name` (rank and channels are checked
    inside the function, so that a wrong request gets a clear message)."""
    if name == "serving_bytes":
        return [tf.TensorSpec(None, tf.string, name=SIGNATURES[name][0])]
    return [tf.TensorSpec(None, tf.uint8, name=SIGNATURES[name][0])]


def require(checks):
    """One assertion op over `[(condition, message), ...]`: fails (InvalidArgumentError)
    with the message of the first false condition."""
    message = tf.constant("")
    for condition, text in reversed(checks):
        message = tf.where(condition, message, text)
    return tf.debugging.Assert(tf.reduce_all([condition for condition, _ in checks]), [message])


def check_image_batch(images, channels):
    """Asserts a non-empty (B, H, W, channels) batch; returns it with a static channel count.

    The input is first reshaped to rank 4 in a way that cannot fail (padding
    the shape with ones, folding extra axes into the last), so that the
    assertion, not another op, reports a bad shape, and so that Grappler
    cannot fold the rank check away from what later ops assume.
    """
    shape = tf.shape(images)
    padded = tf.concat([shape, tf.ones([3], tf.int32)], axis=0)[:3]
    shape = tf.concat([padded, [tf.reduce_prod(shape[3:])]], axis=0)
    check = require([
        (tf.equal(tf.rank(images), 4),
         f"images must be a (batch, height, width, {channels}) uint8 tensor"),
        (tf.equal(shape[3], channels), f"images must have {channels} channels (the model's input)"),
        (shape[0] > 0, "the batch of images is empty"),
        (tf.reduce_all(shape[1:3] > 0), "images must have height and width >= 1"),
    ])
    with tf.control_dependencies([check]):
        images = tf.reshape(images, shape)
    images.set_shape([None, None, None, channels])
    return images


def check_resize(resize, pad_value):
    """Returns `(resize, float(pad_value))`, or raises a ValueError: `resize` must be one of
    `RESIZE_MODES` ("stretch", "letterbox", `check_resize_mode`) and `pad_value` a number.

    Example:
    >>> check_resize("letterbox", 114)
    ('letterbox', 114.0)
    """
    check_resize_mode(resize)
    if not isinstance(pad_value, numbers.Real) or isinstance(pad_value, bool):
        raise ValueError(f"pad_value must be a number (the image value of letterbox bands), "
                         f"got {pad_value!r}.")
    return resize, float(pad_value)


def resize_text(resize, pad_value):
    """How the serving signatures bring images to the model input, in words.

    Example:
    >>> resize_text("letterbox", 0.0)
    'images letterboxed to the model input (aspect ratio kept, bands of 0)'
    """
    if resize == "stretch":
        return "images stretched to the model input (aspect ratio not kept)"
    return f"images letterboxed to the model input (aspect ratio kept, bands of {pad_value:g})"


def to_model_input(images, model, resize="stretch", pad_value=0.0):
    """Any-size 0-255 images to float32 at the model input, exactly as the input pipeline
    resizes them (`GeometricTransform.resample_image`: bilinear, antialiased when shrinking).

    Args:
        images: one (H, W, C) image or a (B, H, W, C) batch of same-size images.
        model: the `MultiTaskModel`.
        resize: "stretch" (aspect ratio not kept) or "letterbox" (aspect ratio kept,
            centred between bands of `pad_value`), as `build_pipeline(resize=...)`.
        pad_value: the value of the letterbox bands.

    Returns:
        The model-size images and the (4,) normalised window [ymin, xmin, ymax, xmax]
        of the model input that shows them ([0, 0, 1, 1] when stretched).

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
    >>> images, window = to_model_input(tf.zeros((1, 16, 32, 1), tf.uint8), model, "letterbox")
    >>> images.shape, window.numpy().tolist()
    (TensorShape([1, 32, 32, 1]), [0.25, 0.0, 0.75, 1.0])
    """
    transform = GeometricTransform.resize(tf.shape(images)[-3:-1], model.image_shape[:2], resize)
    window = transform.map_boxes([[0.0, 0.0, 1.0, 1.0]])[0][0]  # where the whole image lands
    return transform.resample_image(images, pad_value), window


def crop_to_window(maps, window):
    """(..., h, w, C) maps cut to the pixels whose centres lie in the normalised `window`
    [ymin, xmin, ymax, xmax] (4,): the part of the model input that shows the image,
    without letterbox bands (at least one pixel each way).

    Example:
    >>> crop_to_window(tf.zeros((1, 32, 32, 3)), tf.constant([0.25, 0.0, 0.75, 1.0])).shape
    TensorShape([1, 16, 32, 3])
    """
    size = tf.cast(tf.shape(maps)[-3:-1], tf.float32)
    corners = tf.cast(tf.round(window * tf.tile(size, [2])), tf.int32)
    start = corners[:2]
    end = tf.maximum(corners[2:], start + 1)
    return maps[..., start[0]:end[0], start[1]:end[1], :]


def decode_image_bytes(image_bytes, model, resize="stretch", pad_value=0.0):
    """Decodes (B,) encoded images one by one; returns model-size float32 images (see
    `to_model_input`), the (B, 2) original (height, width) of each and their (B, 4) windows."""
    rank_ok = tf.equal(tf.rank(image_bytes), 1)
    checks = [require([(rank_ok, "image_bytes must be a (batch,) string tensor of encoded images"),
                       (tf.size(image_bytes) > 0, "the batch of image bytes is empty")])]
    height, width, channels = model.image_shape

    def decode_one(encoded):
        known = tf.reduce_any([tf.strings.substr(encoded, 0, len(magic)) == magic
                               for magic in _MAGIC_BYTES])
        check = require([(known, "image bytes are not a JPEG, PNG, GIF or BMP image "
                                 "(corrupt or another format)")])
        with tf.control_dependencies([check]):
            # GIF and BMP decode to colour only: a grayscale model gets their luminance
            image = tf.io.decode_image(encoded, channels=3 if channels == 1 else channels,
                                       expand_animations=False)
        if channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        image = tf.ensure_shape(image, [None, None, channels])
        return (*to_model_input(image, model, resize, pad_value), tf.shape(image)[:2])

    with tf.control_dependencies(checks):
        image_bytes = tf.reshape(image_bytes, [-1])
    images, windows, sizes = tf.map_fn(decode_one, image_bytes, fn_output_signature=(
        tf.TensorSpec([height, width, channels], tf.float32), tf.TensorSpec([4], tf.float32),
        tf.TensorSpec([2], tf.int32)))
    return images, sizes, windows


def resize_maps_to(sizes, windows):
    """A function resizing the `windows` (B, 4) of (B, h, w, C) maps (`crop_to_window`) to
    each image's (height, width) in `sizes` (B, 2), zero-padded at the bottom and right to
    the largest image of the batch."""
    largest = tf.reduce_max(sizes, axis=0)

    def resize_maps(maps):
        def resize_one(args):
            one_map, size, window = args
            resized = tf.image.resize(crop_to_window(one_map, window), size)
            return tf.image.pad_to_bounding_box(resized, 0, 0, largest[0], largest[1])

        return tf.map_fn(resize_one, (maps, sizes, windows),
                         fn_output_signature=tf.TensorSpec([None, None, maps.shape[-1]], maps.dtype))

    return resize_maps


def model_outputs(model):
    """`model(images, training=False)` as one `tf.function` of (B, h, w, C) float32
    model-input images, returning a dict.

    Serving functions that call it share a single trace of the model: exporting
    traces the model once instead of once per signature, and the SavedModel holds
    one copy of its graph, which every signature calls.

    Example:
    >>> import mtl_zoo as mz, numpy as np
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
    >>> run = model_outputs(model)
    >>> run(np.zeros((2, 32, 32, 1), "float32"))["digit_logits"].shape
    TensorShape([2, 10])
    """
    return tf.function(lambda images: dict(model(images, training=False)), autograph=False,
                       input_signature=[tf.TensorSpec([None, *model.image_shape], tf.float32)])


def decoded_outputs(model, run_model, images, sizes, windows, resize_maps):
    """Runs the model on model-size images and decodes every task into image pixels.

    Args:
        model: the `MultiTaskModel`.
        run_model: calls the model on `images` (`model_outputs`).
        images: (B, h, w, C) float32 images at the model input (`to_model_input`).
        sizes: (B, 2) int32 (height, width) of the images as given.
        windows: (B, 4) normalised [ymin, xmin, ymax, xmax] of the model input that shows
            each image ([0, 0, 1, 1] stretched; letterbox bands lie outside).
        resize_maps: maps (B, h, w, C) model-input maps to the images' sizes, showing
            only their windows (`resize_maps_to`).

    Returns:
        The flat dict `{f"{task}_{key}": value}` plus `image_size` (B, 2): coordinates
        clipped to the image (a detection in a band ends at its edge).
    """
    raw = run_model(images)
    model_size = tf.constant(model.image_shape[:2], tf.float32)
    windows = windows * tf.tile(model_size, [2])  # in model-input pixels
    scale = tf.cast(sizes, tf.float32) / (windows[:, 2:] - windows[:, :2])
    mapping = ImageMapping(offset=windows[:, :2], scale=scale, sizes=sizes, resize_maps=resize_maps)
    flat = {IMAGE_SIZE_OUTPUT: sizes}
    for task in model.tasks:
        decoded = task.decoded_to_image_pixels(task.decode(task.own_outputs(raw), model.image_shape), mapping)
        for key, value in decoded.items():
            if task.output_name(key) in flat:
                raise ValueError(f"Serving output name {task.output_name(key)!r} is taken twice; "
                                 f"rename task {task.name!r}.")
            flat[task.output_name(key)] = value
    return flat


def serving_functions(model, resize="stretch", pad_value=0.0):
    """The three serving functions of `model`, by signature name (see `SIGNATURES`); images
    are stretched or letterboxed to the model input (`to_model_input`)."""
    channels = model.image_shape[2]
    run_model = model_outputs(model)

    def serve_images(images):
        images = check_image_batch(images, channels)
        shape = tf.shape(images)
        images, window = to_model_input(images, model, resize, pad_value)
        sizes = tf.tile(shape[None, 1:3], [shape[0], 1])
        uniform = lambda maps: tf.image.resize(crop_to_window(maps, window), shape[1:3])  # noqa: E731
        return decoded_outputs(model, run_model, images, sizes, tf.tile(window[None], [shape[0], 1]), uniform)

    def serve_bytes(image_bytes):
        images, sizes, windows = decode_image_bytes(image_bytes, model, resize, pad_value)
        return decoded_outputs(model, run_model, images, sizes, windows, resize_maps_to(sizes, windows))

    def serve_raw(images):
        images, _ = to_model_input(check_image_batch(images, channels), model, resize, pad_value)
        return run_model(images)

    return {"serving_default": serve_images, "serving_bytes": serve_bytes,
            "serving_raw": serve_raw}
