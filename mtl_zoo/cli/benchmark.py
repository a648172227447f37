"""Runs the benchmarks and writes their tables into BENCHMARKS.md.

    python scripts/benchmark.py                      # every benchmark
    python scripts/benchmark.py --only=sharing       # one section; the others are kept
    python scripts/benchmark.py --quick --output=/tmp/b.md   # a fast smoke run

Each section of BENCHMARKS.md sits between `<!-- benchmark: NAME -->` and
`<!-- end: NAME -->` markers, so running one benchmark replaces only its own
section. The header states the machine, the library versions and the command.
Each section is written as soon as it is measured: when a benchmark fails, the
error names it, and the sections measured before it stay written.
"""

import datetime
import os
import re
import sys

from absl import flags

from mtl_zoo.benchmarks.measure import machine_description
from mtl_zoo.cli import exit_on_bad_input, refuse_positional_arguments, run_command
from mtl_zoo.files import check_output_path, write_whole

FLAGS = flags.FLAGS
PLOT_FOLDER = os.path.join("docs", "images")  # relative to the folder of --output
flags.DEFINE_list("only", None, "Benchmarks to run (default: all); see --list.")
flags.DEFINE_bool("list", False, "List the benchmarks and exit.")
flags.DEFINE_bool("quick", False, "Fewer steps and repeats: a smoke run, not for publishing.")
flags.DEFINE_string("output", "BENCHMARKS.md", "The markdown file to write.")


def _section(name, body):
    return f"<!-- benchmark: {name} -->\n{body.strip()}\n<!-- end: {name} -->"


def existing_sections(text):
    """`{name: section text}` of a BENCHMARKS.md written by this script."""
    pattern = re.compile(r"<!-- benchmark: (\w+) -->\n(.*?)\n<!-- end: \1 -->", re.S)
    return {match.group(1): match.group(2) for match in pattern.finditer(text)}


def render(sections, order):
    header = ("# Benchmarks\n\nWritten by `python scripts/benchmark.py` (`--only=NAME` reruns one "
              "section). Each section names the machine and command it was measured with; speed "
              "and memory are ratios measured within one run, since this machine is shared. "
              "Absolute times differ between hosts (the Linux release names the host's image; the "
              "CPU's vector extensions decide TensorFlow's default kernels) and between kernels: "
              "TensorFlow's oneDNN kernels, which `import mtl_zoo` turns on since 2026-12-04, are "
              "faster than its Eigen kernels (section `cpu_kernels` measures by how much).\n")
    return header + "\n" + "\n\n".join(_section(name, sections[name]) for name in order
                                       if name in sections) + "\n"


def write_plots(table, root):
    """Writes `table`'s figures to `root`/docs/images/."""
    folder = os.path.join(root, PLOT_FOLDER)
    for file_name, plot in table.plots.items():
        os.makedirs(folder, exist_ok=True)
        print(f"Wrote {plot(os.path.join(folder, file_name))}")


class BenchmarkFailed(RuntimeError):
    """A benchmark failed while it ran; the sections measured before it are written."""


def write_benchmarks(names, quick, output):
    """Runs `names` and rewrites their sections of `output`, keeping the other sections.
    Each section is written as soon as it is measured, so a benchmark that fails (raising
    BenchmarkFailed, which names it) loses none of those measured before it."""
    from mtl_zoo.benchmarks import check_benchmark_names, list_benchmarks, run_benchmark

    check_benchmark_names(names)  # a typo or a missing folder fails before anything runs
    check_output_path(output, "--output")
    sections = {}
    if os.path.exists(output):
        with open(output) as f:
            sections = existing_sections(f.read())
    machine = machine_description()
    date = datetime.date.today().isoformat()
    for index, name in enumerate(names):
        print(f"Running benchmark {name!r}...", flush=True)
        try:
            table = run_benchmark(name, quick=quick)
            write_plots(table, os.path.dirname(os.path.abspath(output)))
        except Exception as error:  # the benchmark's own failure, whatever it is
            print(f"Benchmark {name!r} failed:\n{error}", file=sys.stderr, flush=True)
            summary = (str(error).strip().splitlines() or [""])[0]
            raise BenchmarkFailed(
                f"Benchmark {name!r} failed ({type(error).__name__}: {summary}; details above). "
                f"The sections measured before it ({', '.join(names[:index]) or 'none'}) are in "
                f"{output}; rerun this one with --only={name}.") from error
        command = f"python scripts/benchmark.py --only={name}" + (" --quick" if quick else "")
        sections[name] = (f"{table.to_markdown()}\n\nMeasured {date} with `{command}` on {machine}.")
        print(table.to_markdown(), flush=True)
        write_whole(output, render(sections, list_benchmarks()))
        print(f"Wrote section {name!r} of {output}", flush=True)


def main(argv):
    from mtl_zoo.benchmarks import list_benchmarks

    refuse_positional_arguments(argv)
    if FLAGS.list:
        print("\n".join(list_benchmarks()))
        return
    exit_on_bad_input(lambda: write_benchmarks(FLAGS.only or list_benchmarks(), FLAGS.quick, FLAGS.output),
                      errors=(ValueError, OSError, BenchmarkFailed))


def run():
    """Console entry point (`mtl-zoo-benchmark`)."""
    run_command(main)


if __name__ == "__main__":
    run()
