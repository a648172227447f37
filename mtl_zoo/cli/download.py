"""Fetches and verifies preset checkpoints ahead of time, for machines without internet.

    python scripts/download.py --presets=mtl_shapes_tiny_cls_det_pose
    python scripts/download.py --all --cache_dir=/shared/keras_cache/mtl_zoo
    python scripts/download.py --presets=https://example.com/zoo/my_preset

Copy the cache folder to the offline machine and set MTL_ZOO_OFFLINE=1 there
(and KERAS_HOME, or pass the same cache_dir to `from_preset`).
"""

from absl import flags

from mtl_zoo.cli import absl_main, run_command

FLAGS = flags.FLAGS
flags.DEFINE_list("presets", None, "Presets to fetch: zoo names, local folders or https:// URLs.")
flags.DEFINE_bool("all", False, "Fetch every preset of the zoo catalog that has a checkpoint.")
flags.DEFINE_string("cache_dir", None, "The download cache (default $KERAS_HOME/mtl_zoo).")


def download(references, cache_dir=None):
    """Fetches and verifies each preset's weights; returns one line per preset saying what happened.

    Example:
    >>> download(["nyuv2_efficientnetv2b0_seg_depth"])
    ['nyuv2_efficientnetv2b0_seg_depth: architecture only, nothing to download']
    """
    from mtl_zoo.presets import load_preset, weights_file

    lines = []
    for reference in references:
        preset, location = load_preset(reference, cache_dir)
        if preset["weights"] is None:
            lines.append(f"{reference}: architecture only, nothing to download")
            continue
        path, downloaded = weights_file(preset, location, cache_dir)
        how = "downloaded" if downloaded else "already there"
        lines.append(f"{reference}: {path} ({preset['weights']['size']} bytes, sha256 ok, {how})")
    return lines


def fetch_flagged_presets():
    """Runs `download` on the presets the flags name and prints its lines."""
    from mtl_zoo.presets import catalog_names

    if bool(FLAGS.presets) == FLAGS.all:
        raise ValueError("Pass either --presets=name1,name2 or --all.")
    print("\n".join(download(catalog_names() if FLAGS.all else FLAGS.presets, FLAGS.cache_dir)))


main = absl_main(fetch_flagged_presets)


def run():
    """Console entry point (`mtl-zoo-download`)."""
    run_command(main)


if __name__ == "__main__":
    run()
