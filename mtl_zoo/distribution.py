"""Small helpers for code that runs inside a tf.distribute replica context."""

import tensorflow as tf


def sum_over_replicas(value):
    """`value` summed over the replicas of the current strategy (itself on one device)."""
    context = tf.distribute.get_replica_context()
    if context is None or tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def gather_over_replicas(value, axis=0):
    """`value` concatenated over the replicas of the current strategy along `axis`, in replica
    order, and where this replica's part starts in it (the parts may differ in length).

    Example:
    >>> gather_over_replicas(tf.ones([2, 3]), axis=1)[0].shape  # one replica: unchanged
    TensorShape([2, 3])
    """
    context = tf.distribute.get_replica_context()
    if context is None or tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return value, tf.constant(0)
    sizes = context.all_gather(tf.shape(value)[axis:axis + 1], axis=0)
    start = tf.reduce_sum(sizes[:context.replica_id_in_sync_group])
    gathered = context.all_gather(value, axis=axis)
    shape = value.shape.as_list()
    gathered.set_shape(shape[:axis] + [None] + shape[axis + 1:])  # all_gather loses the static shape
    return gathered, start


def is_multi_worker(strategy):
    """Whether `strategy` is a MultiWorkerMirroredStrategy spanning several workers (TF_CONFIG).

    Example:
    >>> is_multi_worker(tf.distribute.get_strategy())
    False
    """
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.cluster_resolver is not None
            and len(strategy.cluster_resolver.cluster_spec().as_dict().get("worker", [])) > 1)


def check_xla_replicas(strategy):
    """A ValueError if `strategy` mirrors replicas over several devices of which one is a CPU:
    XLA cannot compile their train step.

    TensorFlow's XLA will not read a variable placed on another device
    (https://www.tensorflow.org/xla/known_issues), and under MirroredStrategy on
    CPUs (logical devices of one CPU) every replica's compiled step reads the
    first replica's copy of a variable: `fit` then stops at its first step with
    "Trying to access resource ... located in device CPU:1 from device CPU:0",
    even for a one-layer Keras model (tests/test_xla.py).

    Example:
    >>> check_xla_replicas(tf.distribute.get_strategy())  # one device: fine
    """
    if not isinstance(strategy, tf.distribute.MirroredStrategy):
        return
    devices = strategy.extended.worker_devices
    if len(devices) > 1 and any(tf.DeviceSpec.from_string(d).device_type == "CPU" for d in devices):
        raise ValueError(
            f"jit_compile=True under MirroredStrategy over {list(devices)}: TensorFlow's XLA cannot "
            "compile a step whose replicas include a CPU (it will not read a variable placed on "
            "another device; https://www.tensorflow.org/xla/known_issues). Compile without "
            "jit_compile, or mirror over GPUs.")


def distribute_global_batches(strategy, dataset, global_batch):
    """Hands each worker of a multi-worker strategy its share of every global batch.

    `dataset` yields global batches, built identically in every worker (same
    seeds; its order is made deterministic here, so that parallel maps cannot
    reorder examples differently on each worker). Of a batch of n rows, global
    replica k of R takes rows [k * n // R, (k + 1) * n // R): b = global_batch / R
    consecutive rows of a full batch, and a fair part of a last, partial one,
    which one machine trains on too. So the replicas together see exactly the
    batches one machine would. (A partial batch needs at least R rows: a
    replica without any fails, since TensorFlow's CPU convolution returns a
    wrongly shaped result for an empty batch.) TensorFlow's automatic sharding
    rewrites the input graph and reseeds its shuffles, which breaks that equality.

    With one replica per worker the result keeps `dataset`'s cardinality, so
    `fit` counts epochs as it does on one machine: a reshuffling dataset
    (`build_pipeline` without `epochs`) draws the next order for each iterator,
    and Keras opens (and drops) one extra iterator per epoch of a dataset of
    known length, which every worker then does alike; an epoch-indexed one
    (`epochs=...`, with `steps_per_epoch`) is read through one iterator. Any
    other strategy gets `dataset` unchanged.

    Example:
    >>> data = distribute_global_batches(strategy, build_pipeline(model, examples, 64), 64)  # doctest: +SKIP
    """
    if not is_multi_worker(strategy):
        return dataset
    options = tf.data.Options()
    options.deterministic = True
    dataset = dataset.with_options(options)
    batches = int(dataset.cardinality())

    def worker_share(context):
        replicas = context.num_replicas_in_sync
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def share(*batch):
            batch = batch[0] if len(batch) == 1 else batch
            rows = tf.shape(tf.nest.flatten(batch)[0], out_type=tf.int64)[0]
            check = tf.debugging.assert_greater_equal(rows, tf.constant(replicas, tf.int64), message=(
                f"distribute_global_batches: a partial global batch has fewer rows than the "
                f"{replicas} replicas; make the number of examples a multiple of the batch size, "
                f"or leave at least {replicas} in the last batch."))
            with tf.control_dependencies([check]):
                rows = tf.identity(rows)

            def replica_rows(index):
                begin, end = (first + index) * rows // replicas, (first + index + 1) * rows // replicas
                return tf.nest.map_structure(lambda t: t[begin:end], batch)

            return tf.data.Dataset.range(local).map(replica_rows)

        shares = dataset.flat_map(share)
        if local == 1 and (batches >= 0 or batches == tf.data.INFINITE_CARDINALITY):
            shares = shares.apply(tf.data.experimental.assert_cardinality(batches))
        return shares

    return strategy.distribute_datasets_from_function(worker_share)
