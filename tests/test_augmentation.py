import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.data import Augmentation, GeometricTransform

SIZE = (32, 32)
DETECTION = mz.tasks.Detection("objects", num_classes=3)
POSE = mz.tasks.Keypoints("pose", num_keypoints=3, flip_pairs=[(1, 2)])
FACE = mz.tasks.Landmarks("face", num_landmarks=3, flip_pairs=[(1, 2)])
PARTS = mz.tasks.Segmentation("parts", num_classes=4)
DEPTH = mz.tasks.Depth("depth")


def _labels():
    return {
        "objects": {"boxes": tf.constant([[0.1, 0.2, 0.5, 0.4], [0.6, 0.5, 0.9, 1.0]]),
                    "classes": tf.constant([0, 2])},
        "pose": {"keypoints": tf.constant([[[0.5, 0.2, 2.0], [0.2, 0.6, 2.0], [0.7, 0.6, 1.0]]])},
        "face": tf.constant([[0.5, 0.5, 1.0], [0.3, 0.4, 1.0], [0.8, 0.4, 1.0]]),
        "parts": tf.constant(np.random.default_rng(0).integers(0, 4, (16, 24)), tf.uint8),
        "depth": tf.constant(np.random.default_rng(1).uniform(1, 5, (32, 32)), tf.float32),
    }


def _move(labels, transform):
    tasks = {t.name: t for t in (DETECTION, POSE, FACE, PARTS, DEPTH)}
    return {name: tasks[name].transform_label(label, transform) for name, label in labels.items()}


def _flip():
    return GeometricTransform.resize(SIZE, SIZE).mirrored(True)


def test_a_flip_applied_twice_is_the_identity():
    image = tf.constant(np.random.default_rng(2).integers(0, 256, SIZE + (3,)), tf.float32)
    labels = _labels()
    labels["parts"] = tf.image.resize(labels["parts"][..., None], SIZE, "nearest")[..., 0]
    once_image, once = _flip().resample_image(image), _move(labels, _flip())
    twice_image, twice = _flip().resample_image(once_image), _move(once, _flip())
    assert not np.allclose(once_image, image)
    np.testing.assert_array_equal(np.round(twice_image), image)  # up to float rounding
    np.testing.assert_allclose(twice["objects"]["boxes"], labels["objects"]["boxes"], atol=1e-6)
    np.testing.assert_array_equal(twice["objects"]["classes"], labels["objects"]["classes"])
    np.testing.assert_allclose(twice["pose"]["keypoints"], labels["pose"]["keypoints"], atol=1e-6)
    np.testing.assert_allclose(twice["face"], labels["face"], atol=1e-6)
    np.testing.assert_array_equal(twice["parts"], labels["parts"])
    np.testing.assert_array_equal(twice["depth"], labels["depth"])
    np.testing.assert_array_equal(once["parts"], labels["parts"][:, ::-1])


def test_keypoint_pairs_swap_on_a_flip():
    moved = _move(_labels(), _flip())
    # index 1 (left) now holds the mirrored right point, and the reverse
    np.testing.assert_allclose(moved["pose"]["keypoints"][0], [[0.5, 0.2, 2.0], [0.3, 0.6, 1.0],
                                                               [0.8, 0.6, 2.0]], atol=1e-6)
    np.testing.assert_allclose(moved["face"], [[0.5, 0.5, 1.0], [0.2, 0.4, 1.0], [0.7, 0.4, 1.0]],
                               atol=1e-6)
    np.testing.assert_allclose(moved["objects"]["boxes"], [[0.1, 0.6, 0.5, 0.8], [0.6, 0.0, 0.9, 0.5]],
                               atol=1e-6)


def test_a_crop_clips_boxes_drops_those_outside_and_hides_keypoints_outside():
    window = GeometricTransform.window([0.5, 0.5], [0.5, 0.5], SIZE)  # the bottom-right quarter
    labels = {"objects": {"boxes": tf.constant([[0.0, 0.0, 0.4, 0.4], [0.6, 0.6, 0.8, 0.8],
                                                [0.4, 0.4, 0.8, 0.8], [0.1, 0.1, 0.55, 0.55]]),
                          "classes": tf.constant([1, 1, 2, 0])},
              "pose": {"keypoints": tf.constant([[[0.75, 0.75, 2.0], [0.2, 0.9, 2.0],
                                                  [0.9, 0.6, 1.0]]])}}
    moved = _move(labels, window)
    np.testing.assert_allclose(moved["objects"]["boxes"][1:3], [[0.2, 0.2, 0.6, 0.6],
                                                                [0.0, 0.0, 0.6, 0.6]], atol=1e-6)
    # outside the view, and a box cut to 1% of its area, lose their class
    np.testing.assert_array_equal(moved["objects"]["classes"], [-1, 1, 2, -1])
    np.testing.assert_allclose(moved["pose"]["keypoints"][0], [[0.5, 0.5, 2.0], [0.0, 0.0, 0.0],
                                                               [0.8, 0.2, 1.0]], atol=1e-6)


def test_instance_areas_scale_with_the_image_and_shrink_with_their_cut_off_box():
    boxes, areas = tf.constant([[0.6, 0.6, 0.8, 0.8], [0.4, 0.4, 0.8, 0.8]]), tf.constant([0.02, 0.1])
    labels = {"objects": {"boxes": boxes, "classes": tf.constant([0, 1]), "areas": areas},
              "pose": {"keypoints": tf.fill([2, 3, 3], 0.7), "boxes": boxes, "areas": areas}}
    window = GeometricTransform.window([0.5, 0.5], [0.5, 0.5], SIZE)  # 4x the area
    moved = _move(labels, window)
    # the second box keeps 0.4^2 / 0.8^2 of its area in the window
    for name in ("objects", "pose"):
        np.testing.assert_allclose(moved[name]["areas"], [0.08, 0.4 * 0.5625],
                                   rtol=1e-6, err_msg=name)
    unboxed = POSE.transform_label({"keypoints": labels["pose"]["keypoints"], "areas": areas}, window)
    np.testing.assert_allclose(unboxed["areas"], [0.08, 0.4], rtol=1e-6)  # scaled only
    # a 100 x 200 image letterboxed into 64 x 64 covers half of it; a flip changes nothing
    letterbox = GeometricTransform.resize((100, 200), SIZE, "letterbox").mirrored(True)
    np.testing.assert_allclose(_move(labels, letterbox)["objects"]["areas"], [0.01, 0.05], rtol=1e-6)
    # padding rows (class -1) may hold anything and come out 0; a box without area keeps its area
    padded = DETECTION.transform_label({"boxes": tf.constant([[0.6, 0.6, 0.6, 0.8], [np.nan] * 4]),
                                        "classes": tf.constant([0, -1]), "areas": tf.constant([0.01, -1.0])},
                                       window)
    np.testing.assert_allclose(padded["areas"], [0.04, 0.0], rtol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one area per instance"):
        DETECTION.transform_label({**labels["objects"], "areas": areas[:1]}, window)
    with pytest.raises(tf.errors.InvalidArgumentError, match="areas must be fractions"):
        DETECTION.transform_label({**labels["objects"], "areas": -areas}, window)


def test_label_maps_are_cropped_like_the_image_and_filled_where_uncovered():
    grid = tf.reshape(tf.range(32 * 32), (32, 32))
    window = GeometricTransform.window([0.5, 0.5], [0.5, 0.5], SIZE)
    cropped = PARTS.transform_label(grid, window).numpy()
    np.testing.assert_array_equal(cropped[::2, ::2], grid.numpy()[16:, 16:])
    # zoom out: the image fills the centre half; the border is ignore / missing
    zoom_out = GeometricTransform.window([-0.5, -0.5], [2.0, 2.0], SIZE)
    parts = PARTS.transform_label(tf.zeros((32, 32), tf.uint8), zoom_out).numpy()
    depth = DEPTH.transform_label(tf.ones((32, 32)), zoom_out).numpy()
    assert (parts[8:24, 8:24] == 0).all() and (parts[:8] == 255).all() and (parts[:, 24:] == 255).all()
    assert (depth[8:24, 8:24] == 1).all() and depth.sum() == 16 * 16


@pytest.mark.parametrize("seed", range(12))
def test_random_views_keep_image_boxes_and_keypoints_together(seed):
    box = np.array([0.3, 0.2, 0.7, 0.5], np.float32)  # a bright rectangle on black
    image = np.zeros((40, 60, 3), np.float32)
    image[12:28, 12:30] = 255.0
    augmentation = Augmentation(scale_range=(0.5, 2.0))
    view = augmentation.view(tf.constant([seed, 7]), SIZE)
    transform = view.then(GeometricTransform.resize((40, 60), SIZE, "letterbox"))
    moved = _move({"objects": {"boxes": box[None], "classes": tf.constant([1])},
                   "pose": {"keypoints": tf.constant([[[0.2, 0.3, 2.0], [0.5, 0.7, 2.0],
                                                       [0.35, 0.5, 2.0]]])}}, transform)
    boxes = moved["objects"]["boxes"].numpy()
    assert ((boxes >= 0.0) & (boxes <= 1.0)).all()
    output = transform.resample_image(image).numpy()[..., 0]
    if moved["objects"]["classes"][0] == 1:  # the box is still in view: it frames the rectangle
        ymin, xmin, ymax, xmax = np.round(boxes[0] * 32).astype(int)
        assert (output[ymin + 1:ymax - 1, xmin + 1:xmax - 1] > 250).all()
        outside = np.ones((32, 32), bool)
        outside[max(ymin - 1, 0):ymax + 1, max(xmin - 1, 0):xmax + 1] = False
        assert (output[outside] < 5).all()
    else:  # the box was dropped: under a quarter of the rectangle is in view (its whole area at
        # the largest zoom, 2x of the letterbox's 32/60, plus one edge row of partly covered pixels)
        assert (output > 250).sum() < 0.25 * 16 * 18 * (2 * 32 / 60) ** 2 + 32
    corners = moved["pose"]["keypoints"][0].numpy()
    for x, y, visibility in corners:  # visible keypoints sit on the box corners and centre
        if visibility > 0:
            assert boxes[0, 1] - 1e-5 <= x <= boxes[0, 3] + 1e-5
            assert boxes[0, 0] - 1e-5 <= y <= boxes[0, 2] + 1e-5


def test_colour_changes_only_the_image_and_stays_in_range():
    augmentation = Augmentation(horizontal_flip=False, brightness=0.3, contrast=0.5,
                                saturation=0.5, hue=0.1)
    image = tf.constant(np.random.default_rng(3).uniform(0, 255, SIZE + (3,)), tf.float32)
    factors = augmentation.colour_factors(tf.constant([1, 2]))
    changed = augmentation.adjust_colours(image[None], factors[None])[0].numpy()
    assert not np.allclose(changed, image) and changed.min() >= 0 and changed.max() <= 255
    view = augmentation.view(tf.constant([1, 2]), SIZE)
    labels = _labels()
    moved = _move(labels, view)
    np.testing.assert_allclose(moved["objects"]["boxes"], labels["objects"]["boxes"], atol=1e-6)


def test_a_transform_knows_whether_it_shows_the_whole_image():
    letterbox = GeometricTransform.resize((100, 200), SIZE, "letterbox")
    assert bool(letterbox.shows_whole_source) and bool(letterbox.mirrored().shows_whole_source)
    crop = GeometricTransform.window([0.1, 0.1], [0.8, 0.8], SIZE)
    assert not bool(crop.shows_whole_source) and not bool(crop.then(letterbox).shows_whole_source)
    shrink = GeometricTransform.window([-0.2, -0.1], [1.3, 1.3], SIZE)
    assert bool(shrink.mirrored().shows_whole_source)
    assert not bool(GeometricTransform.window([-0.2, 0.0], [1.3, 0.9], SIZE).shows_whole_source)


def test_augmentation_config_round_trips_and_rejects_bad_values():
    augmentation = Augmentation(horizontal_flip=False, scale_range=(0.5, 1.5), contrast=0.2,
                                crop_sensitive_tasks=["count"])
    config = augmentation.get_config()
    assert Augmentation.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="scale_range"):
        Augmentation(scale_range=(1.5, 0.5))
    with pytest.raises(ValueError, match="hue must be in"):
        Augmentation(hue=0.7)
    with pytest.raises(ValueError, match="scale_range must be a \\(min, max\\) pair such as"):
        Augmentation(scale_range=1.2)
    assert Augmentation(scale_range=np.array([0.8, 1.2])).scale_range == (0.8, 1.2)
    with pytest.raises(ValueError, match="brightness must be a number, got None"):
        Augmentation(brightness=None)
    with pytest.raises(ValueError, match="need RGB"):
        Augmentation(hue=0.1).check_channels(1)


def test_resampling_is_bilinear_and_antialiased_when_shrinking_only():
    image = np.random.default_rng(2).uniform(0, 255, (45, 60, 3)).astype(np.float32)
    np.testing.assert_allclose(GeometricTransform.resize((45, 60), (45, 60)).resample_image(image),
                               image, atol=1e-3)  # scale 1: the image itself
    for size in [(64, 64), (20, 13), (30, 90)]:  # enlarged, shrunk, one axis each way
        resampled = GeometricTransform.resize((45, 60), size).resample_image(image)
        np.testing.assert_allclose(resampled, tf.image.resize(image, size, antialias=True),
                                   atol=1e-3, err_msg=str(size))
    enlarged = GeometricTransform.resize((45, 60), (64, 64)).resample_image(image)
    np.testing.assert_allclose(enlarged, tf.image.resize(image, (64, 64)), atol=2e-3)  # no blur


def test_a_batch_of_images_is_resampled_as_each_image():
    images = np.random.default_rng(3).uniform(0, 255, (2, 40, 60, 3)).astype(np.float32)
    transform = GeometricTransform.resize((40, 60), SIZE, "letterbox").mirrored(True)
    batch = transform.resample_image(images, fill_value=9.0)
    assert batch.shape == (2,) + SIZE + (3,)
    for image, resampled in zip(images, batch):
        np.testing.assert_allclose(resampled, transform.resample_image(image, fill_value=9.0),
                                   atol=1e-4)


def test_brightness_and_contrast_change_each_image_as_tf_image_does():
    augmentation = Augmentation(brightness=0.2, contrast=0.3)
    images = tf.constant(np.random.default_rng(5).uniform(60, 190, (3,) + SIZE + (3,)), tf.float32)
    factors = tf.stack([augmentation.colour_factors(tf.constant([seed, 0])) for seed in range(3)])
    for brightness, contrast, saturation, hue in factors.numpy():
        assert abs(brightness) <= 0.2 and abs(contrast - 1) <= 0.3 and (saturation, hue) == (1, 0)
    batched = augmentation.adjust_colours(images, factors).numpy()
    for image, (brightness, contrast, _, _), changed in zip(images, factors.numpy(), batched):
        expected = tf.image.adjust_contrast(tf.image.adjust_brightness(image / 255.0, brightness), contrast)
        np.testing.assert_allclose(changed, tf.clip_by_value(expected, 0.0, 1.0).numpy() * 255.0, atol=0.01)
    assert not np.allclose(batched[0], batched[1])


def test_saturation_and_hue_blend_with_and_turn_about_the_luminance():
    augmentation = Augmentation(saturation=1.0, hue=0.5)
    colours = tf.constant(np.random.default_rng(6).uniform(100, 150, (4, 2, 2, 3)), tf.float32)  # none clip
    luminance = colours.numpy() @ np.array([0.213, 0.715, 0.072])
    no_change, grey, turned = (tf.constant([[0.0, 1.0, saturation, hue]] * 4)
                               for saturation, hue in [(1.0, 0.0), (0.0, 0.0), (1.0, 0.3)])
    np.testing.assert_allclose(augmentation.adjust_colours(colours, no_change), colours, atol=1e-3)
    greyed = augmentation.adjust_colours(colours, grey).numpy()
    np.testing.assert_allclose(greyed, np.repeat(luminance[..., None], 3, -1), atol=1e-3)
    rotated = augmentation.adjust_colours(colours, turned).numpy()
    assert not np.allclose(rotated, colours, atol=5.0)
    np.testing.assert_allclose(rotated @ np.array([0.213, 0.715, 0.072]), luminance, atol=0.5)
    red = tf.constant([[[[200.0, 30.0, 30.0]]]])
    green = augmentation.adjust_colours(red, tf.constant([[0.0, 1.0, 1.0, 1 / 3]]))[0, 0, 0].numpy()
    assert green[1] > 2 * max(green[0], green[2])  # a third of a turn: red to green, as in HSV
    mixed = tf.constant([[0.0, 1.0, 0.5, 0.1], [0.0, 1.0, 1.5, -0.2]])
    batched = augmentation.adjust_colours(colours[:2], mixed).numpy()
    for index in range(2):  # each image by its own factors
        alone = augmentation.adjust_colours(colours[index:index + 1], mixed[index:index + 1])
        np.testing.assert_allclose(batched[index], alone[0], atol=1e-3)