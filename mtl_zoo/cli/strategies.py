"""`--strategy`: the tf.distribute strategy a command line trains under."""

import json
import os
import socket
import time

import tensorflow as tf

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


def parse_tf_config(text):
    """The cluster and task of a TF_CONFIG value, checked.

    Returns:
        (workers, task_type, task_index): the "host:port" of every worker
        (chief first when there is one), and this process's role.

    Raises:
        ValueError: not JSON, no cluster of workers, malformed addresses, or a
            task that is not in the cluster.

    Example:
    >>> parse_tf_config('{"cluster": {"worker": ["127.0.0.1:2000", "127.0.0.1:2001"]}, '
    ...                 '"task": {"type": "worker", "index": 1}}')
    (['127.0.0.1:2000', '127.0.0.1:2001'], 'worker', 1)
    """
    hint = ('TF_CONFIG must be JSON like {"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}')
    try:
        config = json.loads(text or "")
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}). {hint}.") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise ValueError(f"TF_CONFIG has no 'cluster' object. {hint}.")
    cluster, task = config["cluster"], config.get("task")
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown:
        raise ValueError(f"TF_CONFIG's cluster has job types {unknown}; MultiWorkerMirroredStrategy "
                         f"takes 'chief' and 'worker' only.")
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses):
            raise ValueError(f"TF_CONFIG's cluster[{job!r}] must be a non-empty list of "
                             f"'host:port' strings, got {addresses!r}.")
    if not isinstance(task, dict) or task.get("type") not in cluster or \
            not isinstance(task.get("index"), int) or not 0 <= task["index"] < len(cluster[task["type"]]):
        raise ValueError(f"TF_CONFIG's task {task!r} is not one of the cluster's tasks "
                         f"({ {job: len(a) for job, a in cluster.items()} }). {hint}.")
    return cluster.get("chief", []) + cluster.get("worker", []), task["type"], task["index"]


def is_chief(task_type, task_index, workers_have_chief):
    """Whether this task writes the run's files: the chief, or worker 0 without a chief."""
    return task_type == "chief" or (task_type == "worker" and task_index == 0 and not workers_have_chief)


def own_address(workers, task_type, task_index, has_chief):
    """This task's "host:port" in `workers` (the chief first, as `parse_tf_config` lists them)."""
    return workers[task_index if task_type == "chief" or not has_chief else 1 + task_index]


def wait_for_workers(workers, own, timeout, poll_seconds=0.2):
    """Blocks until every worker but `own` accepts TCP connections at its address.

    MultiWorkerMirroredStrategy waits without end for a worker that never
    starts; this check turns that into an error after `timeout` seconds. Each
    worker listens on its own port meanwhile, so the workers find each other in
    any start order; the port is freed before TensorFlow's server takes it.

    Raises:
        ValueError: `own`'s port is taken, or some workers did not come up in time.

    Example:
    >>> wait_for_workers(["127.0.0.1:2222"], "127.0.0.1:2222", timeout=1)  # a one-worker cluster
    """
    others = [address for address in workers if address != own]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", int(own.rpartition(":")[2])))
    except OSError as error:
        listener.close()
        raise ValueError(f"This worker's address {own} (TF_CONFIG) cannot be bound: {error}. Another "
                         f"program holds the port; free it or change the cluster's ports.") from None
    listener.listen(len(workers) * 4)
    deadline = time.monotonic() + timeout
    try:
        while others:
            others = [address for address in others if not _accepts_connections(address)]
            if others and time.monotonic() > deadline:
                raise ValueError(
                    f"Workers {others} did not come up within {timeout:g} s. Start each with the same "
                    f"TF_CONFIG cluster and its own task index, or allow more time (--worker_timeout).")
            if others:
                time.sleep(poll_seconds)
    finally:
        listener.close()


def _accepts_connections(address):
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
            return True
    except OSError:
        return False


def make_strategy(name, tpu_address=None, worker_timeout=300):
    """A `tf.distribute.Strategy` by name.

    | name | strategy |
    | --- | --- |
    | `default` | TensorFlow's default (no distribution) |
    | `one_device` | `OneDeviceStrategy` on the first GPU, else the CPU |
    | `mirrored` | `MirroredStrategy` over this machine's GPUs (or its CPU) |
    | `multi_worker` | `MultiWorkerMirroredStrategy` over the machines in TF_CONFIG (checked, then every worker waited for up to `worker_timeout` seconds) |
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
    if name == "multi_worker":
        text = os.environ.get("TF_CONFIG")
        workers, task_type, task_index = parse_tf_config(text)
        own = own_address(workers, task_type, task_index, "chief" in json.loads(text)["cluster"])
        wait_for_workers(workers, own, worker_timeout)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    from mtl_zoo.naming import unknown_name_error

    raise unknown_name_error("strategy", name, STRATEGIES)


def writes_run_files(strategy):
    """Whether this process writes the run's files (always, except on non-chief workers).

    Example:
    >>> writes_run_files(tf.distribute.get_strategy())
    True
    """
    from mtl_zoo.distribution import is_multi_worker

    if not is_multi_worker(strategy):
        return True
    _, task_type, task_index = parse_tf_config(os.environ["TF_CONFIG"])
    has_chief = "chief" in json.loads(os.environ["TF_CONFIG"])["cluster"]
    return is_chief(task_type, task_index, has_chief)


def check_global_batch(batch_size, strategy):
    """Raises ValueError unless the replicas divide the global batch evenly.

    Example:
    >>> check_global_batch(32, tf.distribute.get_strategy())
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"The global batch of {batch_size} does not split evenly over "
                         f"{replicas} replicas: use a multiple of {replicas}.")
