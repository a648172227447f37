"""The serving functions: images in, decoded (or raw) flat outputs out, all in TF ops.

Every function checks its input with `tf.debugging` assertions, so a bad
request fails with an `InvalidArgumentError` that says what was wrong, and
the server keeps running.
"""

import tensorflow as tf

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


def resize_to_model(images, model):
    """Any-size 0-255 images to float32 at the model input size (bilinear, antialiased,
    aspect ratio not kept: the decoded outputs are mapped back per axis)."""
    height, width = model.image_shape[:2]
    return tf.image.resize(tf.cast(images, tf.float32), (height, width), antialias=True)


def decode_image_bytes(image_bytes, model):
    """Decodes (B,) encoded images one by one; returns model-size float32 images and the
    (B, 2) original (height, width) of each."""
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
        return resize_to_model(image[None], model)[0], tf.shape(image)[:2]

    with tf.control_dependencies(checks):
        image_bytes = tf.reshape(image_bytes, [-1])
    return tf.map_fn(decode_one, image_bytes, fn_output_signature=(
        tf.TensorSpec([height, width, channels], tf.float32), tf.TensorSpec([2], tf.int32)))


def resize_maps_to(sizes):
    """A function resizing (B, h, w, C) maps to each image's (height, width) in `sizes`
    (B, 2), zero-padded at the bottom and right to the largest image of the batch."""
    largest = tf.reduce_max(sizes, axis=0)

    def resize_maps(maps):
        def resize_one(args):
            one_map, size = args
            resized = tf.image.resize(one_map, size)
            return tf.image.pad_to_bounding_box(resized, 0, 0, largest[0], largest[1])

        return tf.map_fn(resize_one, (maps, sizes),
                         fn_output_signature=tf.TensorSpec([None, None, maps.shape[-1]], maps.dtype))

    return resize_maps


def decoded_outputs(model, images, sizes, resize_maps):
    """Runs the model on model-size images and decodes every task into image pixels.

    Returns the flat dict `{f"{task}_{key}": value}` plus `image_size` (B, 2).
    """
    raw = model(images, training=False)
    model_size = tf.constant(model.image_shape[:2], tf.float32)
    scale = tf.cast(sizes, tf.float32) / model_size
    flat = {IMAGE_SIZE_OUTPUT: sizes}
    for task in model.tasks:
        decoded = task.decode(task.own_outputs(raw), model.image_shape)
        decoded = task.decoded_to_image_pixels(decoded, scale, resize_maps)
        for key, value in decoded.items():
            if task.output_name(key) in flat:
                raise ValueError(f"Serving output name {task.output_name(key)!r} is taken twice; "
                                 f"rename task {task.name!r}.")
            flat[task.output_name(key)] = value
    return flat


def serving_functions(model):
    """The three serving functions of `model`, by signature name (see `SIGNATURES`)."""
    channels = model.image_shape[2]

    def serve_images(images):
        images = check_image_batch(images, channels)
        shape = tf.shape(images)
        sizes = tf.tile(shape[None, 1:3], [shape[0], 1])
        uniform = lambda maps: tf.image.resize(maps, shape[1:3])  # noqa: E731
        return decoded_outputs(model, resize_to_model(images, model), sizes, uniform)

    def serve_bytes(image_bytes):
        images, sizes = decode_image_bytes(image_bytes, model)
        return decoded_outputs(model, images, sizes, resize_maps_to(sizes))

    def serve_raw(images):
        images = resize_to_model(check_image_batch(images, channels), model)
        return dict(model(images, training=False))

    return {"serving_default": serve_images, "serving_bytes": serve_bytes,
            "serving_raw": serve_raw}
