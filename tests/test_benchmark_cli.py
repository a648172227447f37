"""The benchmark runner: BENCHMARKS.md sections, tables, plots, machine line, bad names; smoke runs."""

import importlib
import json
import pathlib

import numpy as np
import pytest

from mtl_zoo.benchmarks import Table, run_benchmark
from mtl_zoo.benchmarks.measure import (cpu_info, interleaved_median_seconds, interleaved_seconds,
                                        machine_description, median_seconds, peak_resident_mb,
                                        reset_peak_resident, resident_mb, round_ratios, run_isolated,
                                        vector_extensions)
from mtl_zoo.cli import benchmark as cli


def test_rerunning_one_section_keeps_the_others(tmp_path, monkeypatch):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(cli.render({"first": "old first", "second": "old second"}, ["first", "second"]))
    monkeypatch.setattr("mtl_zoo.benchmarks.BENCHMARK_MODULES", {"first": "x", "second": "y"})
    monkeypatch.setattr("mtl_zoo.benchmarks.run_benchmark",
                        lambda name, quick: Table("First", "Measured.", ["scheme", "ratio"],
                                                  [["hard", 1.0], ["soft", 2.5]]))
    cli.write_benchmarks(["first"], quick=True, output=str(output))
    sections = cli.existing_sections(output.read_text())
    assert sections["second"] == "old second"
    assert "| soft | 2.50 |" in sections["first"]
    assert "--only=first --quick" in sections["first"]
    assert "TensorFlow" in sections["first"] and "cores" in sections["first"]
    assert [path.name for path in tmp_path.iterdir()] == ["BENCHMARKS.md"]  # no staging file left


def test_a_failing_section_is_named_and_those_measured_before_it_are_kept(tmp_path, monkeypatch, capsys):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(cli.render({"third": "old third"}, ["first", "second", "third"]))
    monkeypatch.setattr("mtl_zoo.benchmarks.BENCHMARK_MODULES", {"first": "x", "second": "y", "third": "z"})

    def run(name, quick):
        if name == "second":  # as the libmtl section does when pip cannot reach PyPI
            raise RuntimeError("Installing torch failed (exit 1): pip install torch\nERROR: no network")
        return Table("Fine", "Measured.", ["scheme", "ratio"], [["soft", 2.5]])

    monkeypatch.setattr("mtl_zoo.benchmarks.run_benchmark", run)
    try:
        cli.FLAGS(["benchmark", "--only=first,second,third", f"--output={output}"])
        with pytest.raises(SystemExit) as exit_status:
            cli.main(["benchmark"])
    finally:
        cli.FLAGS.unparse_flags()
    assert exit_status.value.code == 2
    err = capsys.readouterr().err
    assert "ERROR: no network" in err  # the details, before the one-line error
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: Benchmark 'second' failed (RuntimeError: Installing torch failed")
    assert f"before it (first) are in {output}" in last and "--only=second" in last
    sections = cli.existing_sections(output.read_text())
    assert "| soft | 2.50 |" in sections["first"] and sections["third"] == "old third"
    assert "second" not in sections
    assert [path.name for path in tmp_path.iterdir()] == ["BENCHMARKS.md"]


def test_a_table_refuses_rows_of_the_wrong_length():
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        Table("Bad", "", ["a", "b", "c"], [[1, 2]])


def test_unknown_benchmark_names_the_valid_ones(monkeypatch):
    monkeypatch.setattr("mtl_zoo.benchmarks.BENCHMARK_MODULES", {"sharing": "sharing"})
    with pytest.raises(ValueError, match="Did you mean 'sharing'"):
        run_benchmark("sharin")


def test_measurements_are_positive():
    assert median_seconds(lambda: sum(range(10_000)), repeats=3, warmup=1) > 0
    assert peak_resident_mb() >= resident_mb() > 0
    block = np.ones(64 * 2**20, np.uint8)  # 64 MiB, touched
    del block
    assert peak_resident_mb() - resident_mb() > 60  # the peak stays after the memory is freed
    assert reset_peak_resident()
    assert peak_resident_mb() - resident_mb() < 5  # and a reset starts a new one


def test_run_isolated_returns_the_result_of_a_fresh_process_and_reports_failures():
    # modules that do not import TensorFlow, which would cost each process ~5 s
    assert run_isolated("difflib", "get_close_matches", word="tny", possibilities=["tiny", "resnet50"]) == ["tiny"]
    assert run_isolated("os", "getenv", environment={"MTL_ZOO_PROBE": "set"}, key="MTL_ZOO_PROBE") == "set"
    with pytest.raises(RuntimeError, match="get_close_matches.*failed"):
        run_isolated("difflib", "get_close_matches", wrd="tny")


def test_sections_write_their_plots_beside_the_markdown(tmp_path, monkeypatch):
    def plot(path):
        pathlib.Path(path).write_bytes(b"png")
        return path

    monkeypatch.setattr("mtl_zoo.benchmarks.BENCHMARK_MODULES", {"first": "x"})
    monkeypatch.setattr("mtl_zoo.benchmarks.run_benchmark",
                        lambda name, quick: Table("First", "![p](docs/images/p.png)", ["a"], [[1.0]],
                                                  plots={"p.png": plot}))
    cli.write_benchmarks(["first"], quick=True, output=str(tmp_path / "B.md"))
    assert (tmp_path / "docs" / "images" / "p.png").read_bytes() == b"png"


def test_interleaved_timing_calls_each_function_in_turns():
    calls = []
    times = interleaved_median_seconds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                       repeats=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3 and set(times) == {"a", "b"}
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        interleaved_median_seconds({"a": lambda: None}, repeats=0)


def test_round_ratios_pair_the_steps_of_each_round():
    rounds = interleaved_seconds({"a": lambda: None, "b": lambda: None}, repeats=4, warmup=0)
    assert [len(values) for values in rounds.values()] == [4, 4]
    # A slow spell that doubles both steps of round 3 leaves that round's ratio at 2.
    assert round_ratios([2.0, 2.0, 4.0, 2.0], [1.0, 1.0, 2.0, 1.0]) == (2.0, 2.0, 2.0)
    assert round_ratios([1.0, 3.0, 2.0, 4.0], [1.0, 1.0, 1.0, 1.0]) == (2.5, 1.75, 3.25)


def test_the_machine_line_names_the_cpu_and_its_vector_extensions(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx avx2 avx512f avx512_vnni\n\n"
                       "processor\t: 1\nmodel name\t: Other CPU\n")
    info = cpu_info(str(cpuinfo))
    assert info["model name"] == "Some CPU"  # the first processor's block only
    assert vector_extensions(info["flags"]) == "AVX2, AVX-512F, AVX-512 VNNI"
    assert vector_extensions("fpu sse2") == ""  # neither: nothing claimed
    line = machine_description()
    assert "cores" in line and "TF_ENABLE_ONEDNN_OPTS" in line
    flags = cpu_info().get("flags", "")
    if "avx2" in flags.split():  # this machine's own extensions are named in the line
        assert vector_extensions(flags) in line


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tasks", "batch_norm", "aggregators", "workers"])
def test_benchmark_smoke_runs(name, monkeypatch):
    # the single-device measurements in this process (a fresh one costs ~5 s of TensorFlow
    # start-up), their results through JSON as from a process; the mirrored and multi-worker
    # ones need their own processes (logical devices are set before TensorFlow starts)
    from mtl_zoo.benchmarks import measure, workers

    isolated, separate_workers = measure.run_isolated, workers.run_workers
    monkeypatch.setattr(measure, "run_isolated", lambda module, function, **kwargs: (
        json.loads(json.dumps(getattr(importlib.import_module(module), function)(**kwargs)))
        if kwargs.get("strategy") != "mirrored" and "environment" not in kwargs
        else isolated(module, function, **kwargs)))
    monkeypatch.setattr(workers, "run_workers", lambda count, **settings: (
        workers.measure_training(**settings) if count == 1 else separate_workers(count, **settings)))
    table = run_benchmark(name, quick=True)
    assert table.rows and all(len(row) == len(table.columns) for row in table.rows)
    ratios = [cell for row in table.rows for cell in row if isinstance(cell, float)]
    assert ratios and all(value > 0 for value in ratios)


def test_the_tasks_benchmark_pools_the_rounds_of_its_processes(monkeypatch):
    from mtl_zoo.benchmarks import measure, tasks

    runs = iter([{"seconds": {"multi": [2.0, 2.2], "single": [1.0, 1.0]}, "flops": {"multi": 3}},
                 {"seconds": {"multi": [3.0], "single": [2.0]}}])
    calls = []
    monkeypatch.setattr(measure, "run_isolated", lambda module, function, **kwargs: (
        calls.append((module, function, kwargs)), next(runs))[1])
    measured = tasks.measure_in_processes(2, backbone="tiny", steps=2)
    # FLOPs do not change between processes: only the first counts them
    assert calls == [("mtl_zoo.benchmarks.tasks", "measure_models",
                      {"backbone": "tiny", "steps": 2, "count_flops": first}) for first in (True, False)]
    assert measured["flops"] == {"multi": 3}
    assert measured["seconds"] == {"multi": [2.0, 2.2, 3.0], "single": [1.0, 1.0, 2.0]}
    assert [run["multi"] for run in measured["processes"]] == [[2.0, 2.2], [3.0]]
    # the verdict rests on all rounds; each process's median is shown beside it
    assert measure.round_ratios(measured["seconds"]["multi"], measured["seconds"]["single"])[0] == 2.0
    assert tasks._process_medians(measured["processes"], lambda run: run["multi"],
                                  lambda run: run["single"]) == "2.10 / 1.50"
