import json
import math

import numpy as np
import pytest
import tensorflow as tf
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import mtl_zoo as mz
from mtl_zoo import evaluation as ev
from mtl_zoo.data import generate_shapes
from test_tasks import _dense, _logits  # head outputs that decode to given targets

# -- COCO box AP, worked by hand -------------------------------------------------------------
SIZE = (100, 100)


def _truth(*boxes_px, classes=None, crowd=None):
    truth = {"boxes": np.array(boxes_px, float).reshape(-1, 4) / 100.0,
             "classes": np.array(classes if classes is not None else [0] * len(boxes_px))}
    if crowd is not None:
        truth["iscrowd"] = np.array(crowd)
    return truth


def _found(boxes_px, scores, classes=None):
    return {"boxes": np.array(boxes_px, float).reshape(-1, 4), "scores": np.array(scores, float),
            "classes": np.array(classes if classes is not None else [0] * len(scores))}


def test_box_ap_of_a_perfect_box_is_one():
    stats = ev.box_ap([_found([[10, 20, 50, 60]], [0.9])], [_truth([10, 20, 50, 60])], SIZE)
    assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)
    assert stats["AR100"] == 1.0
    assert stats["APm"] == pytest.approx(1.0)  # 40 x 40 = 1600 px^2: medium (32^2 .. 96^2)


def test_box_area_ranges_follow_input_pixels():
    stats = ev.box_ap([_found([[0, 0, 20, 20]], [0.9])], [_truth([0, 0, 20, 20])], SIZE)
    assert stats["APs"] == pytest.approx(1.0)  # 400 px^2 < 32^2: small
    assert stats["APm"] == -1.0 and stats["APl"] == -1.0  # no ground truth there: undefined


def test_segment_areas_decide_the_size_ranges_and_the_oks_scale():
    # a 40 x 40 px box (medium) around a segment of 800 px^2 (small), as COCO sorts it
    segment = {**_truth([10, 20, 50, 60]), "areas": [800 / 100 ** 2]}
    stats = ev.box_ap([_found([[10, 20, 50, 60]], [0.9])], [segment], SIZE)
    assert stats["APs"] == pytest.approx(1.0) and stats["APm"] == -1.0
    # OKS scales by the segment's 800 px^2 instead of the box's 1600: an error worth 0.72 on
    # the box's scale is worth 0.72^2 = 0.518, above the first threshold (0.50) only
    distance = math.sqrt(-math.log(0.72) * 2 * 1600 * 0.1 ** 2)
    truth = {"keypoints": [[[[0.5, 0.5, 2]]]], "boxes": [[[0.3, 0.3, 0.7, 0.7]]], "areas": [[0.08]]}
    found = {"keypoints": [[[[50 + distance, 50, 1]]]], "scores": [[0.7]]}
    assert ev.keypoint_ap(found, truth, SIZE)["AP"] == pytest.approx(1 / 10)
    assert ev.keypoint_ap(found, {**truth, "areas": [[0.0]]}, SIZE)["AP"] == pytest.approx(5 / 10)  # box's
    # padding rows may hold anything
    padded = {"keypoints": [[[[0.5, 0.5, 2]], [[0.0, 0.0, 0]]]], "boxes": [[[0.3, 0.3, 0.7, 0.7], [0] * 4]],
              "areas": [[0.08, np.nan]]}
    assert ev.keypoint_ap(found, padded, SIZE)["AP"] == pytest.approx(1 / 10)
    assert ev.box_ap([_found([[10, 20, 50, 60]], [0.9])], [{**segment, "boxes": segment["boxes"].tolist() + [[0] * 4],
                                                             "classes": [0, -1], "areas": [0.08, -1.0]}],
                     SIZE)["APs"] == pytest.approx(1.0)


def test_box_with_iou_062_counts_at_050_055_060_only():
    # ground truth 10x10, prediction 10x6.2 inside it: IoU = 62 / 100
    stats = ev.box_ap([_found([[0, 0, 10, 6.2]], [0.9])], [_truth([0, 0, 10, 10])], SIZE)
    assert stats["AP50"] == pytest.approx(1.0)
    assert stats["AP75"] == 0.0
    assert stats["AP"] == pytest.approx(3 / 10)  # thresholds 0.50, 0.55, 0.60 of ten


def test_box_ap_limited_by_recall():
    # two objects, one found: precision 1 up to recall 0.5, so 51 of the 101 recall points
    stats = ev.box_ap([_found([[0, 0, 10, 10]], [0.9])], [_truth([0, 0, 10, 10], [50, 50, 70, 70])], SIZE)
    assert stats["AP"] == pytest.approx(51 / 101)
    assert stats["AR100"] == pytest.approx(0.5)


def test_box_ap_with_a_false_positive_ranked_first():
    # ranks: FP (0.9) then TP (0.8): precision 1/2 at recall 1, interpolated back to recall 0
    found = _found([[60, 60, 80, 80], [0, 0, 10, 10]], [0.9, 0.8])
    stats = ev.box_ap([found], [_truth([0, 0, 10, 10])], SIZE)
    assert stats["AP"] == pytest.approx(0.5)


def test_crowd_regions_absorb_detections_instead_of_counting_them_false():
    found = [_found([[50, 50, 90, 90], [0, 0, 10, 10]], [0.9, 0.8])]
    plain = ev.box_ap(found, [_truth([0, 0, 10, 10], [50, 50, 90, 90], crowd=[0, 0])], SIZE)
    crowd = ev.box_ap(found, [_truth([0, 0, 10, 10], [50, 50, 90, 90], crowd=[0, 1])], SIZE)
    assert plain["AP"] == pytest.approx(1.0) and plain["AR100"] == 1.0
    assert crowd["AP"] == pytest.approx(1.0)  # the crowd is neither missed nor a false positive
    assert crowd["AR100"] == 1.0
    # without a crowd region the same detection is a false positive ranked first
    unlabelled = ev.box_ap(found, [_truth([0, 0, 10, 10])], SIZE)
    assert unlabelled["AP"] == pytest.approx(0.5)


def test_crowd_flags_may_be_bools_and_must_be_one_per_box():
    found = [_found([[50, 50, 90, 90], [0, 0, 10, 10]], [0.9, 0.8])]
    flagged = ev.box_ap(found, [_truth([0, 0, 10, 10], [50, 50, 90, 90], crowd=[False, True])], SIZE)
    assert flagged["AP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="1 iscrowd flags for 2 ground-truth instances"):
        ev.box_ap(found, [_truth([0, 0, 10, 10], [50, 50, 90, 90], crowd=[True])], SIZE)


def test_box_ap_handles_empty_images_padding_and_no_detections():
    empty_truth = {"boxes": np.zeros((2, 4)), "classes": np.array([-1, -1])}
    empty_found = _found(np.zeros((0, 4)), [])
    stats = ev.box_ap([_found([[0, 0, 10, 10]], [0.9]), empty_found],
                      [_truth([0, 0, 10, 10]), empty_truth], SIZE, num_classes=3)
    assert stats["AP"] == pytest.approx(1.0)  # classes 1 and 2 have no ground truth: left out
    none_found = ev.box_ap([empty_found], [_truth([0, 0, 10, 10])], SIZE)
    assert none_found["AP"] == 0.0 and none_found["AR100"] == 0.0
    decoded = {"boxes": np.array([[[0, 0, 10, 10], [5, 5, 9, 9]]], float),
               "classes": np.array([[0, -1]]), "scores": np.array([[0.9, 0.0]]),
               "num_detections": np.array([1])}
    assert ev.box_ap(decoded, {"boxes": [[[0, 0, 0.1, 0.1]]], "classes": [[0]]}, SIZE)["AP"] == \
        pytest.approx(1.0)


def test_coco_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="2 images of predictions for 1"):
        ev.box_ap([_found([], []), _found([], [])], [_truth([0, 0, 1, 1])], SIZE)
    with pytest.raises(ValueError, match="No images"):
        ev.box_ap([], [], SIZE)
    with pytest.raises(ValueError, match="num_classes=1"):
        ev.box_ap([_found([[0, 0, 1, 1]], [0.5], [3])], [_truth([0, 0, 1, 1])], SIZE, num_classes=1)
    with pytest.raises(ValueError, match="disagree on the number of images"):
        ev.box_ap({"boxes": np.zeros((2, 1, 4)), "classes": np.zeros((1, 1)), "scores": np.zeros((2, 1))},
                  [_truth([0, 0, 1, 1])], SIZE)
    with pytest.raises(ValueError, match="4 positive numbers"):
        ev.keypoint_sigmas(4, [0.1, 0.1])
    with pytest.raises(ValueError, match=r"Image 0: ground-truth boxes have shape \(1, 3\), expected \(N, 4\)"):
        ev.box_ap([_found([], [])], [{"boxes": [[0.1, 0.1, 0.5]], "classes": [0]}], SIZE)
    with pytest.raises(ValueError, match="Image 0: 1 ground-truth areas for 2 instances"):
        ev.box_ap([_found([], [])], [{"boxes": [[0, 0, 1, 1]] * 2, "classes": [0, 0], "areas": [0.5]}], SIZE)
    with pytest.raises(ValueError, match="areas must be finite fractions of the image area"):
        ev.keypoint_ap({"keypoints": [np.zeros((1, 1, 3))], "scores": [[0.5]]},
                       {"keypoints": [[[[0.5, 0.5, 2]]]], "areas": [[-0.1]]}, SIZE)
    with pytest.raises(ValueError, match=r"Image 0: ground-truth boxes have shape \(1, 3\)"):
        ev.keypoint_ap({"keypoints": [np.zeros((1, 1, 3))], "scores": [[0.5]]},
                       {"keypoints": [[[[0.5, 0.5, 2]]]], "boxes": [[[0.3, 0.3, 0.7]]]}, SIZE)
    # these were a bare KeyError and unpacking errors
    with pytest.raises(ValueError, match=r"The predictions of image 0 lack \['scores'\]: they need \['boxes', "
                                         r"'classes', 'scores'\]"):
        ev.box_ap([{"boxes": [[0, 0, 1, 1]], "classes": [0]}], [_truth([0, 0, 1, 1])], SIZE)
    with pytest.raises(ValueError, match=r"The ground truth of image 0 lack \['keypoints'\]"):
        ev.keypoint_ap({"keypoints": [np.zeros((1, 1, 3))], "scores": [[0.5]]}, [{"boxes": [[0, 0, 1, 1]]}], SIZE)
    for bad_size in (64, "64x64", (64,)):
        with pytest.raises(ValueError, match=r"image_size is the model input's \(height, width\) in pixels"):
            ev.box_ap([_found([], [])], [_truth([0, 0, 1, 1])], bad_size)
    assert ev.box_ap([_found([], [])], [_truth([0, 0, 1, 1])], (*SIZE, 3)) == ev.box_ap(
        [_found([], [])], [_truth([0, 0, 1, 1])], SIZE)  # model.image_shape will do


# -- keypoint OKS AP, worked by hand ----------------------------------------------------------
def test_keypoint_ap_with_an_oks_of_072():
    # one keypoint, sigma 0.05 (default for K != 17), box 40x40 px: OKS = exp(-d^2 / (2 * 1600 * 0.1^2))
    distance = math.sqrt(-math.log(0.72) * 2 * 1600 * 0.1 ** 2)
    truth = {"keypoints": [[[[0.5, 0.5, 2]]]], "boxes": [[[0.3, 0.3, 0.7, 0.7]]]}
    found = {"keypoints": [[[[50 + distance, 50, 1]]]], "scores": [[0.7]]}
    stats = ev.keypoint_ap(found, truth, SIZE)
    assert stats["AP50"] == pytest.approx(1.0) and stats["AP75"] == 0.0
    assert stats["AP"] == pytest.approx(5 / 10)  # 0.50 .. 0.70 of the ten thresholds
    loose = ev.keypoint_ap(found, truth, SIZE, sigmas=[0.5])  # a larger sigma forgives the error
    assert loose["AP"] == pytest.approx(1.0)


def _people_with_an_ignore_region():
    """Person 0 with two labelled keypoints; person 1 (box rows and columns 60..90 px) without
    any, an ignore region; padding; and poses: person 0's exactly and one on person 1, first."""
    truth = {"keypoints": np.array([[[0.2, 0.2, 2], [0.3, 0.4, 2]], [[0, 0, 0], [0, 0, 0]],
                                    [[0, 0, 0], [0, 0, 0]]]),
             "boxes": np.array([[0.1, 0.1, 0.5, 0.4], [0.6, 0.6, 0.9, 0.9], [0, 0, 0, 0]])}
    found = {"keypoints": np.array([[[70, 70, 1], [80, 75, 1]], [[20, 20, 1], [30, 40, 1]]], float),
             "scores": np.array([0.9, 0.8]), "num_instances": 2}
    return truth, found


def test_poses_on_a_person_without_keypoints_or_on_a_crowd_are_ignored():
    truth, found = _people_with_an_ignore_region()
    assert ev.keypoint_ap([found], [truth], SIZE)["AP"] == pytest.approx(1.0)
    # without its box, person 1 is padding: the pose on it is a false positive ranked first
    unboxed = {**truth, "boxes": truth["boxes"] * [[1], [0], [1]]}
    assert ev.keypoint_ap([found], [unboxed], SIZE)["AP"] == pytest.approx(0.5)
    # person 1 with labelled keypoints and no pose on it: missed, unless it is a crowd
    labelled = {**truth, "keypoints": truth["keypoints"].copy()}
    labelled["keypoints"][1] = [[0.7, 0.7, 2], [0.75, 0.8, 2]]
    person_0 = {"keypoints": found["keypoints"][1:], "scores": found["scores"][1:], "num_instances": 1}
    assert ev.keypoint_ap([person_0], [labelled], SIZE)["AP"] == pytest.approx(51 / 101)
    crowd = {**labelled, "iscrowd": [0, 1, 0]}
    assert ev.keypoint_ap([person_0], [crowd], SIZE)["AP"] == pytest.approx(1.0)


def test_pck_of_the_evaluation_leaves_out_crowds_and_people_without_keypoints():
    truth, found = _people_with_an_ignore_region()
    task = mz.tasks.Keypoints("people", num_keypoints=2)
    settings = {"pck_alpha": 0.2, "pck_reference": "box", "keypoint_sigmas": {}}
    decoded = {key: np.asarray(value)[None] for key, value in found.items()}
    missed = np.array([[0.5, 0.1, 2], [0.5, 0.2, 2]])  # a person no pose is near
    with_crowd = {**truth, "keypoints": np.concatenate([truth["keypoints"][:2], missed[None]])}
    compute = ev.TASK_KIND_METRICS["keypoints"].compute
    assert compute(task, decoded, [with_crowd], SIZE, settings)["pck"] == pytest.approx(0.5)
    metrics = compute(task, decoded, [{**with_crowd, "iscrowd": [False, False, True]}], SIZE, settings)
    assert metrics["pck"] == 1.0 and metrics["AP"] == pytest.approx(1.0)


def test_keypoint_ap_takes_an_image_without_people_as_an_empty_list():
    person = {"keypoints": [[[0.2, 0.2, 2], [0.3, 0.4, 2]]]}
    pose = {"keypoints": np.array([[[20.0, 20, 1], [30, 40, 1]]]), "scores": [0.8]}
    nothing = {"keypoints": np.zeros((20, 2, 3)), "scores": np.zeros(20), "num_instances": 0}
    for order in (slice(None), slice(None, None, -1)):  # K told by an earlier or a later image
        found, truth = [nothing, pose][order], [{"keypoints": []}, person][order]
        assert ev.keypoint_ap(found, truth, SIZE)["AP"] == pytest.approx(1.0)
    # a pose on the image without people is a false positive, here ranked first
    stray = {"keypoints": [[[50.0, 50, 1], [60, 60, 1]]], "scores": [0.9]}
    assert ev.keypoint_ap([stray, pose], [{"keypoints": []}, person], SIZE)["AP"] == pytest.approx(0.5)
    # no image tells K: nothing needs it
    assert ev.keypoint_ap([{"keypoints": [], "scores": []}], [{"keypoints": []}], SIZE)["AP"] == -1.0
    # box_ap takes empty boxes alike, and counts a detection there as a false positive
    found = [_found([[60, 60, 80, 80]], [0.9]), _found([[0, 0, 10, 10]], [0.8])]
    truth = [{"boxes": [], "classes": []}, _truth([0, 0, 10, 10])]
    assert ev.box_ap(found, truth, SIZE)["AP"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"Instances have \[2, 3\] keypoints"):
        ev.keypoint_ap([pose, pose], [person, {"keypoints": np.zeros((1, 3, 3))}], SIZE)


def test_keypoint_scale_without_a_box_is_the_square_on_the_longer_side():
    """Two keypoints on a vertical line, 40 px apart: scale 40^2, as with a 40 x 40 box (the
    area of their bounding box, 0, used to make OKS 0 for any error)."""
    distance = math.sqrt(-math.log(0.44) * 2 * 1600 * 0.1 ** 2)  # OKS (1 + 0.44) / 2 = 0.72
    truth = {"keypoints": [[[[0.5, 0.3, 2], [0.5, 0.7, 2]]]]}
    found = {"keypoints": [[[[50, 30, 1], [50 + distance, 70, 1]]]], "scores": [[0.7]]}
    assert ev.keypoint_ap(found, truth, SIZE)["AP"] == pytest.approx(5 / 10)
    boxed = {**truth, "boxes": [[[0.3, 0.3, 0.7, 0.7]]]}
    assert ev.keypoint_ap(found, boxed, SIZE)["AP"] == pytest.approx(5 / 10)


@pytest.mark.parametrize("points", [[[0.7, 0.7, 2], [0, 0, 0]], [[0.7, 0.7, 2], [0.7, 0.7, 1]]])
def test_an_instance_without_a_box_or_keypoint_extent_is_an_ignore_region(points):
    """One labelled keypoint (or coincident ones) and no box: no scale for OKS. The instance
    is not counted as missed (it used to be, whatever the pose on it)."""
    truth = {"keypoints": [[[0.2, 0.2, 2], [0.3, 0.4, 2]], points]}
    person_0 = {"keypoints": [[[20.0, 20, 1], [30, 40, 1]]], "scores": [0.8]}
    assert ev.keypoint_ap([person_0], [truth], SIZE)["AP"] == pytest.approx(1.0)
    near = {"keypoints": [[[70.5, 70, 1], [70, 70.5, 1]], [[20, 20, 1], [30, 40, 1]]], "scores": [0.9, 0.8]}
    assert ev.keypoint_ap([near], [truth], SIZE)["AP"] == pytest.approx(0.5)  # as documented


def test_keypoint_sigmas_default_to_coco_for_17_keypoints():
    np.testing.assert_array_equal(ev.keypoint_sigmas(17), ev.COCO_KEYPOINT_SIGMAS)
    assert ev.keypoint_sigmas(3).tolist() == [0.05] * 3


def test_decoded_perfect_head_outputs_score_full_ap():
    """Decoding head outputs equal to the encoded targets gives back the labels: AP 1 (units agree)."""
    image_shape = (64, 64, 3)
    detection = mz.tasks.Detection("objects", num_classes=2)
    boxes = {"boxes": np.array([[0.1, 0.2, 0.5, 0.45], [0.55, 0.5, 0.95, 0.9], [0, 0, 0, 0]], "float32"),
             "classes": np.array([1, 0, -1])}
    targets = {k: v.numpy() for k, v in detection.encode(boxes, image_shape).items()}
    grid = targets["heatmap"].shape[:2]
    outputs = {"heatmap": _logits(targets["heatmap"])[None],
               "size": _dense(targets["size"], targets["indices"], targets["weights"], grid)[None],
               "offset": _dense(targets["offset"], targets["indices"], targets["weights"], grid)[None]}
    decoded = detection.decode({k: tf.constant(v) for k, v in outputs.items()}, image_shape)
    decoded = {k: v.numpy() for k, v in decoded.items()}
    assert ev.box_ap(decoded, {k: v[None] for k, v in boxes.items()}, (64, 64))["AP"] == pytest.approx(1.0)

    pose = mz.tasks.Keypoints("pose", num_keypoints=3)
    points = np.array([[[0.30, 0.20, 2], [0.20, 0.40, 2], [0.42, 0.45, 1]],
                       [[0.75, 0.55, 2], [0.65, 0.80, 0], [0.90, 0.85, 2]]], "float32")
    targets = {k: v.numpy() for k, v in pose.encode({"keypoints": points}, image_shape).items()}
    offsets = targets["keypoint_offsets"].reshape(pose.max_instances, -1)
    outputs = {"center_heatmap": _logits(targets["center_heatmap"])[None],
               "center_offset": _dense(targets["center_offset"], targets["indices"], targets["weights"],
                                       grid)[None],
               "keypoint_offsets": _dense(offsets, targets["indices"], targets["weights"], grid)[None],
               "keypoint_heatmap": _logits(targets["keypoint_heatmap"])[None]}
    decoded = pose.decode({k: tf.constant(v) for k, v in outputs.items()}, image_shape)
    decoded = {k: v.numpy() for k, v in decoded.items()}
    assert ev.keypoint_ap(decoded, {"keypoints": points[None]}, (64, 64))["AP"] == pytest.approx(1.0)


# -- against pycocotools run directly on JSON files -------------------------------------------
def _quarter_pixels(rng, low, high, shape):
    return rng.integers(low * 4, high * 4, shape) / 4.0  # exact in binary floating point


def test_box_ap_matches_pycocotools_on_json_files(tmp_path):
    rng = np.random.default_rng(7)
    size, num_images, num_classes = 128, 6, 3
    images, annotations, results = [], [], []
    truths, founds = [], []
    for image_id in range(1, num_images + 1):
        images.append({"id": image_id, "height": size, "width": size})
        count = int(rng.integers(0, 5))  # some images without objects
        xy = _quarter_pixels(rng, 0, 80, (count, 2))
        wh = _quarter_pixels(rng, 4, 48, (count, 2))
        classes = rng.integers(0, num_classes, count)
        crowd = (rng.random(count) < 0.15).astype(int)
        # segment areas: 3/8 .. 8/8 of the box's (exact in binary, as are their fractions of 128^2)
        areas = wh.prod(axis=1) * rng.integers(3, 9, count) / 8
        for (x, y), (w, h), c, k, a in zip(xy, wh, classes, crowd, areas):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(c) + 1,
                                "bbox": [x, y, w, h], "area": a, "iscrowd": int(k)})
        # padded raw labels for this library: normalised [ymin, xmin, ymax, xmax], class -1 padding
        boxes = np.zeros((5, 4))
        boxes[:count] = np.concatenate([xy[:, ::-1], (xy + wh)[:, ::-1]], axis=1) / size
        padded = np.full(5, -1)
        padded[:count] = classes
        truths.append({"boxes": boxes, "classes": padded, "iscrowd": np.r_[crowd, np.zeros(5 - count, int)],
                       "areas": np.r_[areas, np.zeros(5 - count)] / size ** 2})
        # predictions: jittered copies of some objects plus random boxes
        found_xy = np.concatenate([xy + _quarter_pixels(rng, -3, 3, xy.shape),
                                   _quarter_pixels(rng, 0, 80, (2, 2))])
        found_wh = np.concatenate([wh + _quarter_pixels(rng, -2, 2, wh.shape),
                                   _quarter_pixels(rng, 4, 40, (2, 2))])
        found_classes = np.concatenate([classes, rng.integers(0, num_classes, 2)])
        scores = rng.random(len(found_xy)).round(3)
        for (x, y), (w, h), c, s in zip(found_xy, found_wh, found_classes, scores):
            results.append({"image_id": image_id, "category_id": int(c) + 1, "bbox": [x, y, w, h],
                            "score": s})
        founds.append({"boxes": np.concatenate([found_xy[:, ::-1], (found_xy + found_wh)[:, ::-1]], axis=1),
                       "classes": found_classes, "scores": scores})
    (tmp_path / "gt.json").write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]}))
    (tmp_path / "dt.json").write_text(json.dumps(results))
    truth = COCO(str(tmp_path / "gt.json"))
    evaluator = COCOeval(truth, truth.loadRes(str(tmp_path / "dt.json")), "bbox")
    evaluator.evaluate(), evaluator.accumulate(), evaluator.summarize()
    assert 0.05 < evaluator.stats[0] < 0.95  # a case with something to get right or wrong

    ours = ev.box_ap(founds, truths, (size, size), num_classes=num_classes)
    assert list(ours) == list(ev.BOX_STATS)
    np.testing.assert_array_equal(np.array(list(ours.values())), evaluator.stats)


@pytest.mark.parametrize("num_keypoints, sigmas", [(17, None), (4, [0.03, 0.05, 0.08, 0.1])])
def test_keypoint_ap_matches_pycocotools_on_json_files(tmp_path, num_keypoints, sigmas):
    rng = np.random.default_rng(3)
    size, num_images, max_instances = 128, 5, 3
    images, annotations, results = [], [], []
    truths = []
    found_points = np.zeros((num_images, 4, num_keypoints, 3))
    found_scores = np.zeros((num_images, 4))
    found_counts = np.zeros(num_images, int)
    for image_id in range(1, num_images + 1):
        images.append({"id": image_id, "height": size, "width": size})
        count = int(rng.integers(0, max_instances + 1))
        raw = np.zeros((max_instances, num_keypoints, 3))
        boxes, areas = np.zeros((max_instances, 4)), np.zeros(max_instances)
        for n in range(count):
            x, y = _quarter_pixels(rng, 0, 70, 2)
            w, h = _quarter_pixels(rng, 16, 56, 2)
            points = np.stack([x + _quarter_pixels(rng, 0, w, num_keypoints),
                               y + _quarter_pixels(rng, 0, h, num_keypoints),
                               rng.integers(0, 3, num_keypoints)], -1)
            points[0, 2] = 2  # at least one labelled keypoint
            points[points[:, 2] == 0, :2] = 0
            areas[n] = w * h * rng.integers(3, 9) / 8  # a segment area: 3/8 .. 8/8 of the box's
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                                "keypoints": points.reshape(-1).tolist(),
                                "num_keypoints": int((points[:, 2] > 0).sum()),
                                "bbox": [x, y, w, h], "area": areas[n], "iscrowd": 0})
            raw[n] = points / [size, size, 1]
            boxes[n] = [y / size, x / size, (y + h) / size, (x + w) / size]
            # a prediction near the truth, its score random
            guess = points[:, :2] + _quarter_pixels(rng, -4, 4, (num_keypoints, 2))
            found_points[image_id - 1, n] = np.concatenate([guess, np.ones((num_keypoints, 1))], -1)
        extra = int(rng.integers(0, 2))  # a spurious instance in some images
        found_points[image_id - 1, count:count + extra, :, :2] = _quarter_pixels(
            rng, 0, 128, (extra, num_keypoints, 2))
        found_counts[image_id - 1] = count + extra
        found_scores[image_id - 1, :count + extra] = rng.random(count + extra).round(3)
        for n in range(count + extra):
            results.append({"image_id": image_id, "category_id": 1, "score": found_scores[image_id - 1, n],
                            "keypoints": found_points[image_id - 1, n].reshape(-1).tolist()})
        truths.append({"keypoints": raw, "boxes": boxes, "areas": areas / size ** 2})
    (tmp_path / "gt.json").write_text(json.dumps({
        "images": images, "annotations": annotations, "categories": [{"id": 1, "name": "instance"}]}))
    (tmp_path / "dt.json").write_text(json.dumps(results))
    truth = COCO(str(tmp_path / "gt.json"))
    evaluator = COCOeval(truth, truth.loadRes(str(tmp_path / "dt.json")), "keypoints")
    if sigmas is not None:
        evaluator.params.kpt_oks_sigmas = np.array(sigmas)
    evaluator.evaluate(), evaluator.accumulate(), evaluator.summarize()
    assert 0.05 < evaluator.stats[0] < 0.99

    decoded = {"keypoints": found_points, "scores": found_scores, "num_instances": found_counts}
    ours = ev.keypoint_ap(decoded, truths, (size, size), sigmas=sigmas)
    assert list(ours) == list(ev.KEYPOINT_STATS)
    np.testing.assert_array_equal(np.array(list(ours.values())), evaluator.stats)
    # OKS on box areas, the larger scale, forgives more
    by_box = ev.keypoint_ap(decoded, [{k: v for k, v in t.items() if k != "areas"} for t in truths],
                            (size, size), sigmas=sigmas)
    assert by_box["AP"] > ours["AP"]


# -- PCK, classification, dense, delta_m: worked by hand --------------------------------------
def test_pck_counts_labelled_keypoints_within_alpha_of_the_box():
    truth = np.array([[[10, 10, 2], [30, 10, 2], [20, 40, 1], [0, 0, 0]]], float)  # extent 20 x 30
    predicted = np.array([[[13, 10], [30, 17], [20, 45], [99, 99]]], float)
    sizes = ev.reference_sizes(truth)
    assert sizes.tolist() == [30.0]
    # threshold 0.2 * 30 = 6: errors 3 (in), 7 (out), 5 (in); the unlabelled one is not counted
    assert ev.pck(predicted, truth, sizes, alpha=0.2) == pytest.approx(2 / 3)
    assert ev.pck(predicted, truth, ev.reference_sizes(truth, "image", image_size=(50, 100)),
                  alpha=0.05) == pytest.approx(2 / 3)  # threshold 5 px: 3 and 5 are in
    assert ev.mean_error(predicted, truth) == pytest.approx(5.0)
    assert ev.reference_sizes(truth, boxes=[[0, 0, 10, 50]]).tolist() == [50.0]


def test_matched_pck_pairs_instances_and_counts_missed_ones():
    truth = np.array([[[10, 10, 2], [20, 10, 2]], [[60, 60, 2], [70, 60, 2]],
                      [[90, 20, 2], [95, 20, 2]]], float)
    predicted = np.array([[[61, 60], [70, 61]], [[10, 11], [20, 10]]], float)  # third instance missed
    matched = ev.match_instances(predicted, truth)
    np.testing.assert_array_equal(matched[0], predicted[1])
    np.testing.assert_array_equal(matched[1], predicted[0])
    assert np.isnan(matched[2]).all()
    assert ev.pck(matched, truth, [10, 10, 10], alpha=0.2) == pytest.approx(4 / 6)


def test_accuracy_and_top_k():
    probabilities = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3], [0.6, 0.1, 0.3]])
    labels = [0, 1, 2, 1]
    assert ev.accuracy(labels, probabilities) == 0.25
    assert ev.top_k_accuracy(labels, probabilities, k=2) == 0.5  # examples 0 and 2
    assert ev.top_k_accuracy(labels, probabilities, k=3) == 1.0
    with pytest.raises(ValueError, match="3 labels for 4"):
        ev.accuracy(labels[:3], probabilities)
    with pytest.raises(ValueError, match="no examples"):
        ev.accuracy([], np.zeros((0, 3)))
    # these used to score 0.0
    with pytest.raises(ValueError, match="class ids must be whole numbers .*not probabilities"):
        ev.accuracy([0.5, 1.5, 0.0, 1.0], probabilities)
    with pytest.raises(ValueError, match="top-k accuracy: k must be an integer >= 1, got 0"):
        ev.top_k_accuracy(labels, probabilities, k=0)
    with pytest.raises(ValueError, match="PCK's alpha must be a finite number >= 0.0, got -0.2"):
        ev.pck([[[1, 0]]], [[[0, 0, 2]]], [10.0], alpha=-0.2)


def test_multilabel_map_ignores_unknown_entries_and_labels_without_positives():
    labels = np.array([[1, 0, 0], [0, 1, -1], [1, -1, 0], [0, 0, -1]])
    scores = np.array([[0.9, 0.6, 0.5], [0.8, 0.5, 0.4], [0.7, 0.99, 0.3], [0.1, 0.1, 0.2]])
    mean_ap, per_label = ev.multilabel_average_precision(labels, scores)
    # label 0 ranks 1, 0, 1, 0: AP = 1/2 * 1 + 1/2 * 2/3. Label 1 without the unknown 0.99 ranks
    # 0 (0.6), 1 (0.5), 0: AP = 1 * 1/2. Label 2 has no positive: excluded.
    assert per_label[0] == pytest.approx(1 / 2 + 1 / 3)
    assert per_label[1] == pytest.approx(1 / 2)
    assert np.isnan(per_label[2])
    assert mean_ap == pytest.approx((5 / 6 + 1 / 2) / 2)
    assert ev.average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5)  # a tie is one threshold
    with pytest.raises(ValueError, match="no label has a known positive"):
        ev.multilabel_average_precision([[0, -1]], [[0.2, 0.3]])


def test_miou_on_a_4x4_mask_worked_by_hand():
    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 255], [2, 2, 2, 2]])
    predicted = np.array([[0, 1, 1, 1], [0, 0, 1, 1], [2, 2, 0, 1], [2, 2, 2, 1]])
    scores = ev.segmentation_scores(labels, predicted, num_classes=4)
    # IoU0 = 3 / 4, IoU1 = 4 / 6, IoU2 = 5 / 6; class 3 appears nowhere: left out
    assert scores["mIoU"] == pytest.approx((3 / 4 + 4 / 6 + 5 / 6) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(12 / 14)
    predicted[0, 0] = 3  # a predicted class absent from the truth counts with IoU 0
    assert ev.segmentation_scores(labels, predicted, 4)["mIoU"] == pytest.approx((2 / 4 + 4 / 6 + 5 / 6) / 4)
    with pytest.raises(ValueError, match="class 7"):
        ev.segmentation_scores(labels, np.full((4, 4), 7), 4)
    with pytest.raises(ValueError, match="same size"):
        ev.segmentation_scores(labels, predicted[:2], 4)


def test_depth_errors_on_three_pixels():
    truth = np.array([[1.0, 2.0], [4.0, 0.0]])  # the 0 is missing depth
    predicted = np.array([[1.2, 2.0], [3.0, 9.0]])
    errors = ev.depth_errors(truth, predicted)
    assert errors["abs_rel"] == pytest.approx((0.2 + 0.0 + 0.25) / 3)
    assert errors["rmse"] == pytest.approx(math.sqrt((0.04 + 0 + 1) / 3))
    # ratios 1.2, 1, 4/3: below 1.25 twice, below 1.25^2 and 1.25^3 thrice
    assert (errors["delta1"], errors["delta2"], errors["delta3"]) == pytest.approx((2 / 3, 1, 1))
    with pytest.raises(ValueError, match="No valid depth"):
        ev.depth_errors(np.zeros((2, 2)), predicted)


def test_delta_m_signs_lower_is_better_metrics():
    baselines = {"seg/mIoU": 0.50, "depth/rmse": 1.0}
    assert ev.delta_m({"seg/mIoU": 0.55, "depth/rmse": 1.1}, baselines) == pytest.approx(0.0)
    assert ev.delta_m({"seg/mIoU": 0.55, "depth/rmse": 0.8}, baselines) == pytest.approx((0.1 + 0.2) / 2)
    assert ev.delta_m({"mystery": 2.0}, {"mystery": 1.0}, directions={"mystery": "lower"}) == -1.0
    with pytest.raises(ValueError, match="'mystery'"):
        ev.delta_m({"mystery": 2.0}, {"mystery": 1.0})
    with pytest.raises(ValueError, match="only the baselines"):
        ev.delta_m({"seg/mIoU": 0.5}, baselines)
    diverged = {"seg/mIoU": float("nan"), "depth/rmse": 1.0}  # it returned nan
    with pytest.raises(ev.UndefinedDeltaM, match="the multi-task value of 'seg/mIoU' is nan"):
        ev.delta_m(diverged, baselines)
    assert ev.delta_m_record(diverged, baselines) == {  # a training run's record is still written
        "delta_m": None, "delta_m_undefined": "delta_m: the multi-task value of 'seg/mIoU' is nan."}
    with pytest.raises(ValueError, match="the baseline value of 'seg/mIoU' is '0.5', not a number"):
        ev.delta_m({"seg/mIoU": 0.5}, {"seg/mIoU": "0.5"})  # once taken as the number


def test_delta_m_of_whole_results_leaves_out_data_counts_and_undefined_coco_statistics():
    multi = {"attrs": {"mAP": 0.66, "labels_without_positives": 0}, "det": {"AP": 0.5, "APs": -1.0}}
    single = {"attrs": {"mAP": 0.60, "labels_without_positives": 0}, "det": {"AP": 0.4, "APs": -1.0}}
    assert ev.delta_m(ev.flatten_results(multi), ev.flatten_results(single)) == pytest.approx((0.1 + 0.25) / 2)
    with pytest.raises(ValueError, match="no defined metric"):
        ev.delta_m({"det/APs": -1.0}, {"det/APs": -1.0})


# -- evaluate_model on a tiny untrained model ------------------------------------------------
IMAGE = 64


def _all_kinds_data(count=6):
    images, labels = generate_shapes(count, image_size=IMAGE, seed=3)
    classes = labels["shapes"]["classes"]
    labels["present"] = np.stack([(classes == 0).any(1), (classes == 1).any(1),
                                  (classes >= 0).sum(1) > 1], -1).astype(np.int32)
    labels["corners"] = labels["extremes"]["keypoints"][:, 0]
    masks = np.zeros((count, IMAGE // 2, IMAGE // 2), np.int32)  # label maps at half size
    for n in range(count):
        for box, cls in zip(labels["shapes"]["boxes"][n], classes[n]):
            if cls >= 0:
                y0, x0, y1, x1 = (box * IMAGE // 2).astype(int)
                masks[n, y0:y1, x0:x1] = cls + 1
    masks[:, 0, :] = 255
    labels["regions"] = masks
    labels["depth"] = 1.0 + masks.astype(np.float32) % 255
    labels["depth"][:, :, :3] = 0.0
    return images, labels


@pytest.fixture(scope="module")
def all_kinds_model():
    tasks = [mz.tasks.Classification("count", 3, top_k=2), mz.tasks.MultiLabel("present", 3),
             mz.tasks.Detection("shapes", 2, score_threshold=0.0),
             mz.tasks.Keypoints("extremes", 4, score_threshold=0.0),
             mz.tasks.Landmarks("corners", 4), mz.tasks.Segmentation("regions", 3),
             mz.tasks.Depth("depth")]
    return mz.build_model("tiny", tasks, (IMAGE, IMAGE, 3))


EXPECTED = {"count": {"accuracy", "top2_accuracy"}, "present": {"mAP", "labels_without_positives"},
            "shapes": set(ev.BOX_STATS), "extremes": set(ev.KEYPOINT_STATS) | {"pck"},
            "corners": {"pck", "mean_error"}, "regions": {"mIoU", "pixel_accuracy"},
            "depth": {"abs_rel", "rmse", "delta1", "delta2", "delta3"}}


def test_evaluate_model_gives_every_metric_of_every_task_kind(all_kinds_model):
    images, labels = _all_kinds_data()
    results = ev.evaluate_model(all_kinds_model, (images, labels), batch_size=3)
    assert {task: set(metrics) for task, metrics in results.items()} == EXPECTED
    assert json.loads(json.dumps(results)) == results
    for task, metrics in results.items():
        for name, value in metrics.items():
            assert math.isfinite(value), (task, name)
            if name in ("abs_rel", "rmse", "mean_error"):
                assert value >= 0
            elif name != "labels_without_positives":
                assert value == -1.0 or 0.0 <= value <= 1.0, (task, name, value)
    assert results["shapes"]["APs"] >= 0  # every shape is small at 64 px: defined
    assert results["present"]["labels_without_positives"] == 0
    # the same data as a list of (image, {task: raw label}) examples gives the same numbers
    examples = [(images[n], {task: (value[n] if not isinstance(value, dict)
                                    else {k: v[n] for k, v in value.items()})
                             for task, value in labels.items()}) for n in range(len(images))]
    assert ev.evaluate_model(all_kinds_model, examples) == results
    headlines = ev.headline_metrics(results, all_kinds_model)
    assert sorted(headlines) == sorted(["count/accuracy", "present/mAP", "shapes/AP", "extremes/AP",
                                        "corners/pck", "regions/mIoU", "depth/rmse"])
    table = ev.results_table(results)
    assert all(f"| {task} | " in table for task in results)


def test_evaluate_model_passes_crowd_flags_to_the_coco_evaluation(all_kinds_model):
    images, labels = _all_kinds_data(2)
    boxes = labels["shapes"]
    plain = ev.evaluate_model(all_kinds_model, (images, {"shapes": boxes}))["shapes"]
    crowds = {**boxes, "iscrowd": np.ones_like(boxes["classes"], bool)}
    flagged = ev.evaluate_model(all_kinds_model, (images, {"shapes": crowds}))["shapes"]
    assert plain["AR100"] >= 0.0  # the objects can be found (or missed)
    assert flagged["AP"] == flagged["AR100"] == -1.0  # only ignore regions: nothing to find


def test_evaluate_model_rejects_bad_inputs(all_kinds_model, monkeypatch):
    images, labels = _all_kinds_data(2)
    with pytest.raises(ValueError, match="labels for 1 examples, the images number 2"):
        ev.evaluate_model(all_kinds_model, (images, {"count": labels["count"][:1]}))
    with pytest.raises(ValueError, match=r"Unknown task in the labels 'cout'. Did you mean 'count'.* To drop the "
                                         r"labels of tasks the model lacks: mz.data.with_labels_of"):
        ev.evaluate_model(all_kinds_model, (images, {"cout": labels["count"]}))
    with pytest.raises(ValueError, match="non-empty"):
        ev.evaluate_model(all_kinds_model, [])
    with pytest.raises(ValueError, match=r"keypoint_sigmas is a dict \{task name: one OKS sigma per keypoint\}"):
        ev.evaluate_model(all_kinds_model, (images, labels), keypoint_sigmas=[0.05] * 4)
    with pytest.raises(ValueError, match=r"results_table takes evaluate_model's results"):
        ev.results_table([{"count": {"accuracy": 1.0}}])
    with pytest.raises(ValueError, match=r"different sizes .*raw_batches"):  # e.g. a source's images
        ev.evaluate_model(all_kinds_model, [(images[0], {"count": 1}), (images[1, :32], {"count": 2})])
    # ground truth that training refuses used to score 0 here
    pixel_boxes = {**labels["shapes"], "boxes": labels["shapes"]["boxes"] * IMAGE}
    with pytest.raises(ValueError, match="Example 0 of the evaluation data: Task 'shapes': box coordinates must be "
                                         "finite, normalised image coordinates"):
        ev.evaluate_model(all_kinds_model, (images, {"shapes": pixel_boxes}))
    unordered = {**labels["shapes"], "boxes": labels["shapes"]["boxes"][..., [2, 3, 0, 1]]}
    with pytest.raises(ValueError, match="Example 0 .*Task 'shapes': boxes must be \\[ymin, xmin, ymax, xmax\\] "
                                         "with ymin <= ymax"):
        ev.evaluate_model(all_kinds_model, (images, {"shapes": unordered}))
    pixel_points = {**labels["extremes"], "keypoints": labels["extremes"]["keypoints"] * [IMAGE, IMAGE, 1]}
    with pytest.raises(ValueError, match="Example 0 .*Task 'extremes': keypoint coordinates must be finite"):
        ev.evaluate_model(all_kinds_model, (images, {"extremes": pixel_points}))
    with pytest.raises(ValueError, match="Example 1 of the evaluation data: Task 'count': class id >= num_classes=3"):
        ev.evaluate_model(all_kinds_model, (images, {"count": np.array([0, 5])}))
    monkeypatch.delitem(ev.TASK_KIND_METRICS, "classification")
    with pytest.raises(ValueError, match="Unknown task kind to evaluate"):
        ev.evaluate_model(all_kinds_model, (images, {"count": labels["count"]}))
