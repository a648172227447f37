"""`--strategy`: the tf.distribute strategy a command line trains under."""

import tensorflow as tf

STRATEGIES = ("default", "one_device", "mirrored", "tpu")


def make_strategy(name, tpu_address=None):
    """A `tf.distribute.Strategy` by name.

    | name | strategy |
    | --- | --- |
    | `default` | TensorFlow's default (no distribution) |
    | `one_device` | `OneDeviceStrategy` on the first GPU, else the CPU |
    | `mirrored` | `MirroredStrategy` over this machine's GPUs (or its CPU) |
    | `tpu` | `TPUStrategy` on the TPU at `tpu_address` (`""` or None: the local / Cloud TPU VM one) |

    Example:
    >>> make_strategy("mirrored").num_replicas_in_sync >= 1  # doctest: +SKIP
    True
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    from mtl_zoo.naming import unknown_name_error

    raise unknown_name_error("strategy", name, STRATEGIES)


def check_global_batch(batch_size, strategy):
    """Raises ValueError unless the replicas divide the global batch evenly.

    Example:
    >>> check_global_batch(32, tf.distribute.get_strategy())
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"The global batch of {batch_size} does not split evenly over "
                         f"{replicas} replicas: use a multiple of {replicas}.")
