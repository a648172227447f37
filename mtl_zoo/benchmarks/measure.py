"""Timing and memory measurement shared by the benchmarks."""

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def median_seconds(function, repeats=10, warmup=2):
    """The median wall time of `function()` over `repeats` calls, after `warmup` calls.

    Example:
    >>> median_seconds(lambda: sum(range(1000)), repeats=3, warmup=1) > 0
    True
    """
    return interleaved_median_seconds({"function": function}, repeats, warmup)["function"]


def interleaved_seconds(functions, repeats=10, warmup=2):
    """`{name: [seconds of each round]}` of each of `functions` (`{name: callable}`), timed in turns.

    Each round calls every function once, so a slow spell of a shared machine
    falls on all of them alike; ratios between them are then fair.

    Example:
    >>> rounds = interleaved_seconds({"a": lambda: sum(range(10)), "b": lambda: None}, 3, 1)
    >>> sorted(rounds), len(rounds["a"])
    (['a', 'b'], 3)
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    for function in functions.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return times


def interleaved_median_seconds(functions, repeats=10, warmup=2):
    """`{name: median seconds}` of each of `functions`, timed in turns (`interleaved_seconds`).

    Example:
    >>> times = interleaved_median_seconds({"a": lambda: sum(range(10)), "b": lambda: None}, 3, 1)
    >>> sorted(times)
    ['a', 'b']
    """
    return {name: float(np.median(values))
            for name, values in interleaved_seconds(functions, repeats, warmup).items()}


def round_ratios(numerator, denominator):
    """`(median, first quartile, third quartile)` of the round-by-round ratios of two
    timings from the same `interleaved_seconds` run.

    Both steps of a round ran back to back, so each round's ratio cancels the
    machine's speed at that moment; the median of those ratios is steadier than
    the ratio of the two medians when other jobs come and go.

    Example:
    >>> round_ratios([2.0, 4.0, 3.0], [1.0, 2.0, 1.0])
    (2.0, 2.0, 2.5)
    """
    ratios = np.asarray(numerator, float) / np.asarray(denominator, float)
    return tuple(float(value) for value in np.percentile(ratios, [50, 25, 75]))


def forward_flops(model):
    """Floating-point operations of one inference forward pass of `model` on one image,
    counted by TensorFlow's profiler on the frozen graph (a multiply-add counts 2).

    Example:
    >>> import keras
    >>> dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, use_bias=False)])
    >>> forward_flops(dense)
    12
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tensorflow.python.profiler import model_analyzer, option_builder

    spec = tf.TensorSpec([1, *model.inputs[0].shape[1:]], model.inputs[0].dtype)
    graph = convert_variables_to_constants_v2(
        tf.function(lambda images: model(images, training=False)).get_concrete_function(spec)).graph
    options = {**option_builder.ProfileOptionBuilder.float_operation(), "output": "none"}
    return int(model_analyzer.profile(graph, options=options).total_float_ops)


def resident_mb():
    """This process's current resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_resident():
    """Starts a new peak for `peak_resident_mb` at the current size (Linux: "5" written to
    /proc/self/clear_refs), so that a measurement in a long-lived process is not hidden
    under an older peak. Returns False where the kernel does not allow it.

    Example:
    >>> reset_peak_resident() and peak_resident_mb() - resident_mb() < 1
    True
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_resident_mb():
    """This process's peak resident set size since it started or since the last
    `reset_peak_resident()`, in MiB (VmHWM of /proc/self/status; at least the current size:
    the kernel updates its peak counter lazily)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return max(peak, resident_mb())


def run_isolated(module, function, environment=None, **kwargs):
    """Runs `module.function(**kwargs)` in a fresh Python process; returns its JSON result.

    Used to measure peak memory of one configuration without the others'
    allocations: the function should return `peak_resident_mb() - baseline`
    among its results, with `baseline = resident_mb()` taken after imports.
    `environment` adds or replaces variables of the process's environment.
    """
    # Run from the temporary folder, so that a source checkout in the working directory
    # cannot shadow the installed package.
    code = (f"import json, sys; from {module} import {function} as f; "
            "print('RESULT ' + json.dumps(f(**json.loads(sys.argv[1]))))")
    completed = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)],
                               capture_output=True, text=True, cwd=tempfile.gettempdir(),
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(environment or {})})
    results = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if completed.returncode or not results:
        raise RuntimeError(f"{module}.{function}({kwargs}) failed (exit {completed.returncode}):\n"
                           f"{completed.stderr[-3000:]}")
    return json.loads(results[-1][len("RESULT "):])


# CPU flags (as /proc/cpuinfo spells them) that decide TensorFlow's kernels on x86:
# TensorFlow turns its oneDNN kernels on by default only with the AVX-512 neural-network
# extensions or AMX, so two hosts that both say "AMD EPYC" may run different kernels.
VECTOR_EXTENSIONS = {"avx2": "AVX2", "avx512f": "AVX-512F", "avx512_vnni": "AVX-512 VNNI",
                     "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX"}


def cpu_info(path="/proc/cpuinfo"):
    """`{field: value}` of the first processor in `path` (empty where the file is missing,
    as on macOS or Windows).

    Example:
    >>> isinstance(cpu_info("/no/such/file"), dict)
    True
    """
    fields = {}
    try:
        with open(path) as lines:
            for line in lines:
                if not line.strip():
                    break  # the end of the first processor's block
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def vector_extensions(flags):
    """The names of `VECTOR_EXTENSIONS` in a cpuinfo `flags` string, AVX-512 named absent
    when AVX2 is there without it.

    Example:
    >>> vector_extensions("fpu sse avx avx2 fma")
    'AVX2, no AVX-512'
    >>> vector_extensions("avx2 avx512f avx512_vnni")
    'AVX2, AVX-512F, AVX-512 VNNI'
    """
    present = set(flags.split())
    names = [name for flag, name in VECTOR_EXTENSIONS.items() if flag in present]
    if "avx2" in present and "avx512f" not in present:
        names.append("no AVX-512")
    return ", ".join(names)


def machine_description():
    """One line naming the CPU and its vector extensions, core count, OS and library versions."""
    import keras
    import tensorflow as tf

    import mtl_zoo
    from mtl_zoo.cpu_kernels import onednn_setting

    info = cpu_info()
    cpu = info.get("model name") or platform.processor() or platform.machine()
    extensions = vector_extensions(info.get("flags", ""))
    gpus = tf.config.list_physical_devices("GPU")
    return (f"{cpu}{f' ({extensions})' if extensions else ''}, {os.cpu_count()} cores"
            f"{f', {len(gpus)} GPU' if gpus else ', no GPU'}; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__} ({onednn_setting()}), Keras {keras.__version__}, "
            f"mtl_zoo {mtl_zoo.__version__}")
