"""The stick figure of `mtl_shapes`: keypoints, bones, and a pose model per action.

A figure faces the viewer (as in COCO), so its left side is on the image's
right. Limb directions are angles in degrees from straight down, positive
away from the body (90 = sideways, 180 = straight up); each action draws
them from its own ranges, so the action is readable from the pose and the
action, box, keypoint and mask tasks are related. Every action looks the same
mirrored (a wave with either arm is a wave), so horizontal flips keep the
action label.
"""

import numpy as np

KEYPOINT_NAMES = (
    "head", "neck",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
FLIP_PAIRS = ((2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13))
ACTIONS = ("standing", "arms_up", "arms_out", "waving", "kicking", "squatting")

# Bone lengths as fractions of the figure's height (head top to ankles when standing).
_TORSO, _NECK_TO_HEAD, _SHOULDER_HALF_WIDTH, _HIP_HALF_WIDTH = 0.30, 0.10, 0.10, 0.06
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.16, 0.15, 0.22, 0.22
HEAD_RADIUS = 0.07

# (mean, spread) in degrees of (upper arm, forearm) and of (thigh, shin) per action.
_REST_ARM, _REST_LEG = ((12, 8), (8, 8)), ((5, 3), (2, 3))
_ACTION_LIMBS = {
    #            arms                     legs                    one side only
    "standing": (_REST_ARM, _REST_LEG, None),
    "arms_up": (((160, 12), (170, 10)), _REST_LEG, None),
    "arms_out": (((90, 10), (90, 12)), _REST_LEG, None),
    "waving": (((120, 15), (175, 12)), _REST_LEG, "arms"),
    "kicking": (((45, 15), (40, 15)), ((75, 12), (80, 15)), "legs"),
    "squatting": (((35, 10), (30, 10)), ((70, 8), (-10, 6)), None),
}

# Bones drawn as thick lines, by keypoint index ("pelvis" is the hips' midpoint, drawn separately).
BONES = ((1, 2), (1, 3), (2, 4), (4, 6), (3, 5), (5, 7), (8, 9), (8, 10), (10, 12), (9, 11), (11, 13))


def _direction(angle_degrees, side):
    """Unit (x, y) vector at `angle_degrees` from straight down, outward on `side` (+1 left, -1 right)."""
    angle = np.deg2rad(angle_degrees)
    return np.array([side * np.sin(angle), np.cos(angle)])


def _limb_angles(rng, action):
    """Draws {side: (arm angles, leg angles)} for `action`; side +1 is the figure's left."""
    arms, legs, one_side = _ACTION_LIMBS[action]
    active_side = 1 if rng.random() < 0.5 else -1
    angles = {}
    for side in (1, -1):
        side_arms = _REST_ARM if one_side == "arms" and side != active_side else arms
        side_legs = _REST_LEG if one_side == "legs" and side != active_side else legs
        angles[side] = tuple(tuple(mean + spread * rng.uniform(-1, 1) for mean, spread in limb)
                             for limb in (side_arms, side_legs))
    return angles


def sample_pose(rng, action):
    """Keypoints (K, 2) as (x, y) in figure heights, pelvis at the origin, y down.

    Forward kinematics from the pelvis: torso up to the neck, head above it,
    shoulders and hips either side, then two bones per limb at the action's
    angles; the whole figure is tilted by up to 6 degrees.

    Args:
      rng: a `numpy.random.Generator`.
      action: one of `ACTIONS`.

    Example:
    >>> sample_pose(np.random.default_rng(0), "arms_up").shape
    (14, 2)
    """
    points = np.zeros((len(KEYPOINT_NAMES), 2))
    neck = np.array([0.0, -_TORSO])
    points[0] = neck + [0.0, -_NECK_TO_HEAD]
    points[1] = neck
    for side, ((upper_arm, forearm), (thigh, shin)) in _limb_angles(rng, action).items():
        left = 0 if side == 1 else 1  # index offset: left keypoints come first in each pair
        shoulder = neck + [side * _SHOULDER_HALF_WIDTH, 0.0]
        elbow = shoulder + _UPPER_ARM * _direction(upper_arm, side)
        hip = np.array([side * _HIP_HALF_WIDTH, 0.0])
        knee = hip + _THIGH * _direction(thigh, side)
        points[[2 + left, 4 + left, 6 + left]] = shoulder, elbow, elbow + _FOREARM * _direction(forearm, side)
        points[[8 + left, 10 + left, 12 + left]] = hip, knee, knee + _SHIN * _direction(shin, side)
    tilt = np.deg2rad(rng.uniform(-6, 6))
    rotation = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
    return points @ rotation.T
