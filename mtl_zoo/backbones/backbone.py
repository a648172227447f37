"""`Backbone`: a trunk that maps raw images to pyramid features keyed by stride."""

import contextlib
import os

import keras

from mtl_zoo.backbones.families import get_family
from mtl_zoo.backbones.kept_frozen import BackboneStage, KeepsFrozenLayers
from mtl_zoo.backbones.preprocessing import ImagePreprocessing

PYRAMID_STRIDES = {"P2": 4, "P3": 8, "P4": 16, "P5": 32}
MAX_STRIDE = max(PYRAMID_STRIDES.values())


def level_stride(level):
    """The stride of pyramid level `level` ("P2" -> 4 ... "P5" -> 32)."""
    if level not in PYRAMID_STRIDES:
        raise ValueError(
            f"Unknown pyramid level {level!r}; backbones expose {sorted(PYRAMID_STRIDES)}."
        )
    return PYRAMID_STRIDES[level]


@contextlib.contextmanager
def global_dtype_policy(policy):
    """Sets Keras's global dtype policy to `policy` (a name, a policy, or None to leave it)
    for the duration of the block, then restores the previous one.

    Example:
    >>> with global_dtype_policy("mixed_float16"):
    ...     keras.layers.Dense(2).dtype_policy.name
    'mixed_float16'
    >>> keras.config.dtype_policy().name
    'float32'
    """
    previous = keras.config.dtype_policy()
    if policy is not None:
        keras.config.set_dtype_policy(keras.dtype_policies.get(policy))  # a name or a serialised policy
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_input_shape(input_shape, rgb_only=True, backbone="this backbone"):
    """Validates an (height, width, channels) image shape for a pyramid backbone."""
    try:
        height, width, channels = (int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"input_shape must be (height, width, channels) integers, got {input_shape!r}."
        ) from None
    if height in (1, 3, 4) and width >= MAX_STRIDE and channels >= MAX_STRIDE:
        raise ValueError(f"input_shape {tuple(input_shape)} looks like (channels, height, width): give "
                         f"(height, width, channels), e.g. {(width, channels, height)}; the models take "
                         "channels-last images.")
    if height < MAX_STRIDE or width < MAX_STRIDE:
        raise ValueError(
            f"input_shape {tuple(input_shape)} is too small for {backbone}: its deepest "
            f"features have stride {MAX_STRIDE}, so height and width must be at least "
            f"{MAX_STRIDE}. Use e.g. ({MAX_STRIDE * 2}, {MAX_STRIDE * 2}, {channels})."
        )
    if height % MAX_STRIDE or width % MAX_STRIDE:
        fixed = tuple(max(MAX_STRIDE, round(d / MAX_STRIDE) * MAX_STRIDE) for d in (height, width))
        raise ValueError(
            f"input_shape {tuple(input_shape)}: height and width must be multiples of "
            f"{MAX_STRIDE} (the stride of P5) so that every pyramid level aligns with the "
            f"image. Resize to e.g. {fixed + (channels,)}."
        )
    if rgb_only and channels != 3:
        raise ValueError(
            f"{backbone} takes RGB images (3 channels), got {channels}. Convert grayscale "
            "images with tf.image.grayscale_to_rgb, or use backbone='tiny'."
        )
    if channels < 1:
        raise ValueError(f"input_shape {tuple(input_shape)} has no channels.")
    return height, width, channels


def _build_trunk(spec, family, input_shape, weights):
    """`spec.build(...)`; a failed ImageNet download says how to work offline."""
    try:
        return spec.build(input_shape, weights)
    except Exception as error:
        if weights != "imagenet" or "URL fetch failure" not in str(error):
            raise
        raise OSError(
            f"The ImageNet weights of backbone {family!r} could not be downloaded ({error}). "
            "keras.utils.get_file caches them under ~/.keras/models (or $KERAS_HOME/models): "
            "on a machine without internet, copy that file there from one that has it, or "
            "build with weights=None or the path of a weights file.") from error


def _checked_momentum(momentum):
    """`momentum` as a float, or None; a ValueError unless None or 0 <= momentum < 1."""
    if momentum is None:
        return None
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ValueError(f"batch_norm_momentum must be a number in [0, 1), got {momentum!r}; "
                         "None keeps the application's own.")
    return float(momentum)


def _pyramid_taps(trunk, height, width):
    """The last layer output at each pyramid resolution, in graph order."""
    taps = {}
    for layer in trunk.layers:
        output = layer.output
        if not hasattr(output, "shape") or len(output.shape) != 4:
            continue
        for level, stride in PYRAMID_STRIDES.items():
            if tuple(output.shape[1:3]) == (height // stride, width // stride):
                taps[level] = output
    missing = sorted(set(PYRAMID_STRIDES) - set(taps))
    if missing:
        raise ValueError(f"Trunk {trunk.name!r} has no features at levels {missing}.")
    return taps


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Backbone(KeepsFrozenLayers, keras.Model):
    """A shared trunk returning `{"P2": stride 4, ..., "P5": stride 32}` features.

    The model takes raw 0-255 images and applies its family's preprocessing
    itself. Families: see `mtl_zoo.backbones.list_backbones()`.

    Args:
        family: a family name, e.g. "tiny", "resnet50", "mobilenet_v3_small".
        input_shape: (height, width, channels); height and width multiples of 32.
        weights: None (random init), "imagenet" (keras.applications families,
            downloaded once into the Keras cache) or a path to a weights file
            of the headless trunk.
        batch_norm_momentum: the momentum of every batch norm of the trunk; None
            keeps the application's own. The moving statistics keep
            `momentum ** n` of their value from n steps before. 0.9 (PyTorch's
            default, EfficientNetV2's and the tiny trunk's) follows the weights
            within tens of steps. keras.applications' MobileNets ship 0.999 and
            ResNets 0.99, tuned for long ImageNet schedules: in a run of a few
            hundred steps their moving statistics lag the weights. A MobileNetV3
            trained 3 epochs on mtl_shapes with 0.99 validated at chance (87%
            with the batch statistics instead); with 0.9, at 86%.
        frozen_layers: names of trunk layers to freeze (`trainable` False), e.g.
            the early stages of a pretrained trunk; `trainable=False` freezes it
            all. Both are kept in the config, so they survive saving and the
            copies that soft sharing makes.
        dtype: the dtype policy of the trunk's layers (e.g. "mixed_float16");
            default: Keras's global policy when the backbone is built. Kept in
            the config, so a mixed-precision backbone reloads mixed whatever the
            global policy at loading.

    Example:
    >>> backbone = Backbone("tiny", input_shape=(64, 64, 3))
    >>> {level: f.shape[1] for level, f in backbone(keras.ops.zeros((1, 64, 64, 3))).items()}
    {'P2': 16, 'P3': 8, 'P4': 4, 'P5': 2}
    >>> slow = Backbone("tiny", (64, 64, 3), batch_norm_momentum=0.99)
    >>> sorted({layer.momentum for layer in slow.get_layer("tiny_trunk").layers
    ...         if isinstance(layer, keras.layers.BatchNormalization)})
    [0.99]
    """

    def __init__(self, family="tiny", input_shape=(128, 128, 3), weights=None,
                 batch_norm_momentum=0.9, frozen_layers=None, **kwargs):
        # Keras's Layer.__init__(trainable=False) sets the flag of the model alone; the
        # setter, below, also freezes every inner layer and its variables.
        trainable = kwargs.pop("trainable", True)
        with global_dtype_policy(kwargs.pop("dtype", None)):
            self._build_graph(family, input_shape, weights, batch_norm_momentum, kwargs)
        self._freeze_trunk_layers(frozen_layers or [])
        if not trainable:
            self.trainable = False

    def _build_graph(self, family, input_shape, weights, batch_norm_momentum, kwargs):
        """Builds the functional graph (image -> preprocessing -> trunk -> pyramid taps) under
        the current global dtype policy."""
        spec = get_family(family)
        height, width, channels = check_input_shape(
            input_shape, rgb_only=spec.rgb_only, backbone=f"backbone {family!r}")
        if weights not in (None, "imagenet") and not os.path.exists(str(weights)):
            raise ValueError(
                f"weights must be None, 'imagenet' or the path of a weights file; "
                f"{weights!r} is none of these."
            )
        batch_norm_momentum = _checked_momentum(batch_norm_momentum)
        if weights == "imagenet" and family == "tiny":
            raise ValueError("The 'tiny' backbone has no ImageNet weights; use weights=None.")
        image = keras.Input((height, width, channels), name="image")
        trunk = _build_trunk(spec, family, (height, width, channels), weights)
        for layer in trunk.layers:
            if batch_norm_momentum is not None and isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = batch_norm_momentum
        taps = _pyramid_taps(trunk, height, width)
        extractor = keras.Model(trunk.input, taps, name=f"{family}_trunk")
        features = extractor(ImagePreprocessing(spec.preprocessing, name="preprocessing")(image))
        kwargs.setdefault("name", f"{family}_backbone")
        super().__init__(inputs=image, outputs=features, **kwargs)
        self.family = family
        self.batch_norm_momentum = batch_norm_momentum
        self.image_shape = (height, width, channels)
        self.strides = dict(PYRAMID_STRIDES)
        self.channels = {level: int(f.shape[-1]) for level, f in features.items()}

    def _freeze_trunk_layers(self, names):
        known = {layer.name for layer in self._inner_model().layers}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"frozen_layers {unknown} are not layers of the {self.family!r} trunk.")
        self._keep_frozen(names)

    def _inner_model(self):
        """The trunk, whose layers `frozen_layers` names (`KeepsFrozenLayers`)."""
        return self.get_layer(f"{self.family}_trunk")

    def stages(self, name=None):
        """The trunk cut at its pyramid taps, for schemes that act between stages.

        Returns `(preprocessing, {"P2": model, ..., "P5": model})`: the
        preprocessing layer (no weights) and one Keras model per stage, the
        first from the preprocessed image to P2, each next one from the
        previous level to its own. The stage models (`BackboneStage`) share their
        layers (and weights) with this backbone, and keep its `frozen_layers`
        frozen when they are unfrozen.

        Args:
            name: prefix of the stage models' names (default: this backbone's name).

        Example:
        >>> preprocessing, stages = Backbone("tiny", (64, 64, 3)).stages()
        >>> {level: stage.output_shape[1:] for level, stage in stages.items()}["P3"]
        (8, 8, 32)
        """
        name = name or self.name
        extractor = self._inner_model()
        start, stages = extractor.input, {}
        for level in sorted(extractor.output, key=level_stride):
            stages[level] = BackboneStage(start, extractor.output[level], name=f"{name}_{level}_stage",
                                          trainable=self.trainable, frozen_layers=self.frozen_layers)
            start = extractor.output[level]
        return self.get_layer("preprocessing"), stages

    def get_config(self):
        # Weights travel with the saved model, so a reloaded backbone starts from None.
        return {"family": self.family, "input_shape": list(self.image_shape),
                "batch_norm_momentum": self.batch_norm_momentum, "frozen_layers": self.frozen_layers,
                "name": self.name, "trainable": self.trainable,
                "dtype": self.get_layer(f"{self.family}_trunk").dtype_policy.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
