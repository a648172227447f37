"""The shared feature pyramid that dense heads read (Lin et al. 2017, FPN)."""

from keras import layers


def feature_pyramid(backbone_features, channels, name="pyramid"):
    """Top-down feature pyramid over `{"P2": ..., "P5": ...}` with `channels` everywhere.

    Each level: a 1x1 lateral conv of the backbone features, plus the 2x
    upsampled coarser level, then a 3x3 conv. Part of the shared trunk in
    hard sharing.

    Example:
    >>> import keras
    >>> feats = {f"P{i}": keras.Input((64 // 2 ** i, 64 // 2 ** i, 8)) for i in range(2, 6)}
    >>> sorted(feature_pyramid(feats, 16))
    ['P2', 'P3', 'P4', 'P5']
    """
    levels = sorted(backbone_features, key=lambda level: int(level[1:]), reverse=True)
    pyramid = {}
    coarser = None
    for level in levels:
        x = layers.Conv2D(channels, 1, name=f"{name}_{level}_lateral")(backbone_features[level])
        if coarser is not None:
            upsampled = layers.UpSampling2D(2, name=f"{name}_{level}_upsample")(coarser)
            x = layers.Add(name=f"{name}_{level}_merge")([x, upsampled])
        coarser = x
        pyramid[level] = layers.Conv2D(channels, 3, padding="same", activation="relu",
                                       name=f"{name}_{level}_smooth")(x)
    return dict(sorted(pyramid.items()))
