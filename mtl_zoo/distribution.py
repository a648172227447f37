"""Small helpers for code that runs inside a tf.distribute replica context."""

import tensorflow as tf


def sum_over_replicas(value):
    """`value` summed over the replicas of the current strategy (itself on one device)."""
    context = tf.distribute.get_replica_context()
    if context is None or tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def is_multi_worker(strategy):
    """Whether `strategy` is a MultiWorkerMirroredStrategy spanning several workers (TF_CONFIG).

    Example:
    >>> is_multi_worker(tf.distribute.get_strategy())
    False
    """
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.cluster_resolver is not None
            and len(strategy.cluster_resolver.cluster_spec().as_dict().get("worker", [])) > 1)


def distribute_global_batches(strategy, dataset, global_batch):
    """Hands each worker of a multi-worker strategy its share of every global batch.

    `dataset` yields global batches, built identically in every worker (same
    seeds). Worker w keeps rows [w * L * b, (w + 1) * L * b) of each batch, cut
    into L per-replica batches of b = global_batch / replicas rows for its L
    local replicas, so the replicas together see exactly the batches one
    machine would. TensorFlow's automatic sharding rewrites the input graph and
    reseeds its shuffles, which breaks that equality. A last, partial global
    batch is left out. Any other strategy gets `dataset` unchanged.

    Example:
    >>> data = distribute_global_batches(strategy, build_pipeline(model, examples, 64), 64)  # doctest: +SKIP
    """
    if not is_multi_worker(strategy):
        return dataset

    def worker_share(context):
        per_replica = context.get_per_replica_batch_size(global_batch)
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local * per_replica

        def full(*batch):
            return tf.equal(tf.shape(tf.nest.flatten(batch)[0])[0], global_batch)

        def share(*batch):
            rows = tf.nest.map_structure(lambda t: t[first:first + local * per_replica], batch)
            return tf.data.Dataset.from_tensors(rows).unbatch().batch(per_replica)

        return dataset.filter(full).flat_map(share)

    return strategy.distribute_datasets_from_function(worker_share)
