#!/usr/bin/env python
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

r"""Time ``PanDAService.prepare`` against the published plugin, with each plugin's shipped defaults.

The same DRP-shaped workflow (``tests/support/synthetic.py``, which needs only lsst.ctrl.bps) is
built in each plugin's own interpreter before the clock starts; the published plugin runs from its
own virtualenv (``make bench-prepare`` makes ``.venv-published-plugin``).  Each (plugin, size)
runs in fresh processes: fastest of ``--repeats`` prepares into fresh directories, and the peak
RSS increase.  The configuration is each plugin's defaults (its ``bps_panda.yaml``)
plus ``submitPath`` and a compute site without settings.  A breakdown of this plugin's prepare by
step (fastest of the repeats, the steps run one after the other as ``convert_workflow`` runs them)
is measured in one more process.  Where both plugins run, they alternate run by run, so a change of
the machine's load hits both.

Usage::

    python bench/prepare_speed.py --sizes 100000 1000000 --published-sizes 100000 \\
        --published-python .venv-published-plugin/bin/python --results bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import replace_block

HERE = Path(__file__).resolve().parent
MARKER = "<!-- bench:prepare-speed -->"
STEPS = (
    "cycle check",
    "task specs and names",
    "chunking",
    "dependency maps",
    "iDDS works",
    "writing",
)
"""Steps of prepare, in order; their times add up to prepare's."""
PART_OF_WRITING = "of which the iDDS JSON (zipping the maps included)"


def _quiet_environment() -> None:
    """Point pandaclient at a closed loopback port before anything imports it; no log noise."""
    import logging

    for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
        os.environ.setdefault(name, "http://127.0.0.1:1/server/panda")
    logging.basicConfig(level=logging.WARNING)


def build_workflow(n_jobs: int, submit_path: str):
    """Return the DRP-shaped workflow and the config, as either plugin's interpreter builds them."""
    sys.path.insert(0, str(HERE.parent / "tests" / "support"))
    from lsst.ctrl.bps import BpsConfig
    from lsst.ctrl.bps.bps_config import BPS_DEFAULTS, BPS_SEARCH_ORDER
    from synthetic import make_drp_workflow

    gw = make_drp_workflow(n_jobs, submit_dir=submit_path)
    end_point = f"{submit_path}/panda_files/"
    # ctrl_bps puts every {key} of a lazy command line in cmdvals; the published plugin needs it.
    for name in gw:
        gw.get_job(name).cmdvals["fileDistributionEndPoint"] = end_point
    config = BpsConfig(
        {"submitPath": submit_path, "computeSite": "TEST", "site": {"TEST": {}}},
        search_order=BPS_SEARCH_ORDER,
        defaults=BPS_DEFAULTS,
        wms_service_class_fqn="lsst.ctrl.bps.panda.PanDAService",
    )
    return gw, config


def measure_prepare(n_jobs: int, repeats: int) -> dict:
    """In the child: time ``prepare`` ``repeats`` times; peak RSS increase of the first run."""
    import lsst.ctrl.bps.panda
    from lsst.ctrl.bps.panda import PanDAService
    from run_bench import PeakRss

    with tempfile.TemporaryDirectory() as tmp:
        gw, config = build_workflow(n_jobs, tmp)
        runs, rss_mb, tasks = [], None, None
        for attempt in range(repeats):
            out = Path(tmp) / f"submit{attempt}"
            out.mkdir()  # bps makes the submit directory before prepare
            with PeakRss() as measured:
                start = time.perf_counter()
                prepared = PanDAService(config).prepare(config, gw, str(out))
                runs.append(time.perf_counter() - start)
            if rss_mb is None:
                rss_mb = (measured.peak - measured.baseline) / 2**20
            # The published plugin keeps its iDDS workflow in idds_client_workflow.
            idds_workflow = getattr(prepared, "idds_workflow", None) or prepared.idds_client_workflow
            tasks = len(idds_workflow.get_all_works())
            del idds_workflow
            del prepared
        return {
            "jobs": gw.number_of_nodes() + 1,
            "tasks": tasks,
            "runs_s": runs,
            "best_s": min(runs),
            "peak_rss_increase_mb": rss_mb,
            "plugin": str(Path(lsst.ctrl.bps.panda.__file__).parent),
        }


def _convert_in_steps(gw, config, lap) -> None:
    """Run ``convert_workflow``'s steps one after the other, calling ``lap`` after each."""
    from idds.workflowv2.workflow import Workflow
    from lsst.ctrl.bps.panda.prepare import convert
    from lsst.ctrl.bps.panda.prepare.graph_tables import check_acyclic, dependency_entries
    from lsst.ctrl.bps.panda.prepare.settings import SettingsReader
    from lsst.ctrl.bps.panda.prepare.task_work import new_work

    specs = convert.TaskSpecs(gw, SettingsReader(config))
    check_acyclic(specs.tables)
    lap("cycle check")
    groups, noops, _ = convert._group_jobs(specs, gw.number_of_nodes())
    lap("task specs and names")
    plan = convert._plan_tasks(gw, groups, specs.wf, False, specs.tables.predecessors)
    lap("chunking")
    made = dependency_entries(specs.tables.predecessors, plan.tasks, plan.reference, noops)
    entries = {task.name: task_entries for task, task_entries in made}
    lap("dependency maps")
    idds_workflow, works = Workflow(name=gw.name), {}
    for index, task in enumerate(plan.tasks, 1):
        works[task.name] = new_work(task.name, task.spec, entries.pop(task.name), index, None)
        idds_workflow.add_work(works[task.name])
    convert._add_final_job(gw, gw.get_final(), specs, idds_workflow, works, None)
    lap("iDDS works")


def _zipping_started(idds_workflow):
    """Start zipping every work's map as prepare does (its JSON written here, zlib in a thread)."""
    from lsst.ctrl.bps.panda.prepare.task_work import DependencyMapZipper

    zipper = DependencyMapZipper()
    for work in idds_workflow.template.works.values():
        zipper.start(work, made_here=True)
    zipper.close()
    return zipper


def measure_steps(n_jobs: int, repeats: int) -> dict:
    """In the child (this plugin): time each step of prepare, fastest of ``repeats``."""
    from lsst.ctrl.bps.panda.gc_pause import gc_paused
    from lsst.ctrl.bps.panda.prepare.prepared_workflow import PandaBpsWmsWorkflow, write_idds_workflow_json

    best = dict.fromkeys((*STEPS, PART_OF_WRITING), float("inf"))
    with tempfile.TemporaryDirectory() as tmp:
        gw, config = build_workflow(n_jobs, tmp)
        for attempt in range(repeats):
            clock = [time.perf_counter()]

            def lap(step: str, clock: list[float] = clock) -> None:
                clock.append(time.perf_counter())
                best[step] = min(best[step], clock[-1] - clock[-2])

            with gc_paused():
                _convert_in_steps(gw, config, lap)
            prepared = PandaBpsWmsWorkflow.from_generic_workflow(config, gw, str(tmp), "bench")
            prepared.map_zipper.close(cancel=True)
            clock.append(time.perf_counter())
            # Writing as if nothing were zipped yet (prepare starts zipping as it makes the works).
            with gc_paused():
                prepared.map_zipper = _zipping_started(prepared.idds_workflow)
                prepared.write(str(Path(tmp) / f"submit{attempt}"))
            lap("writing")
            with gc_paused():
                write_idds_workflow_json(
                    Path(tmp) / "again.json", prepared.idds_workflow, _zipping_started(prepared.idds_workflow)
                )
            lap(PART_OF_WRITING)
    return best


def run_child(python: str, n_jobs: int, mode: str, repeats: int) -> dict:
    """Run one measurement in a fresh ``python`` process; return its figures."""
    command = [python, __file__, "--child", str(n_jobs), "--mode", mode, "--repeats", str(repeats)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _interleaved(published_python: str, size: int, repeats: int) -> tuple[dict, dict]:
    """Measure both plugins ``repeats`` times, one after the other, each prepare in a fresh process.

    On a shared machine the load changes from minute to minute; alternating the plugins gives both
    the same conditions.  Times: the fastest; peak RSS increase: the largest.
    """
    runs: dict[str, list[dict]] = {published_python: [], sys.executable: []}
    for attempt in range(repeats):
        for python in runs:
            print(f"{python}, {size:,} jobs, run {attempt + 1} ...", file=sys.stderr, flush=True)
            runs[python].append(run_child(python, size, "prepare", 1))
    merged = []
    for figures in runs.values():
        merged.append(
            {
                **figures[0],
                "runs_s": [f["best_s"] for f in figures],
                "best_s": min(f["best_s"] for f in figures),
                "peak_rss_increase_mb": max(f["peak_rss_increase_mb"] for f in figures),
            }
        )
    print(f"  published: {merged[0]}", file=sys.stderr, flush=True)
    return merged[0], merged[1]


def speed_table(ours: dict[int, dict], published: dict[int, dict]) -> str:
    lines = [
        "| jobs | tasks | published 30.0.0 s | this plugin s | ratio | µs/job | published peak RSS +MB "
        "| this plugin peak RSS +MB | runs: published / this plugin s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size, row in ours.items():
        other = published.get(size)
        lines.append(
            f"| {row['jobs']:,} | {row['tasks']} | "
            + (f"{other['best_s']:.2f} | " if other else "— | ")
            + f"{row['best_s']:.2f} | "
            + (f"{other['best_s'] / row['best_s']:.1f}× | " if other else "— | ")
            + f"{row['best_s'] / row['jobs'] * 1e6:.2f} | "
            + (f"{other['peak_rss_increase_mb']:.0f} | " if other else "— | ")
            + f"{row['peak_rss_increase_mb']:.0f} | "
            + (f"{', '.join(f'{s:.1f}' for s in other['runs_s'])} / " if other else "")
            + f"{', '.join(f'{s:.2f}' for s in row['runs_s'])} |"
        )
    return "\n".join(lines)


def steps_table(steps: dict[int, dict]) -> str:
    sizes = list(steps)
    lines = [
        "| step | " + " | ".join(f"{size:,} jobs s" for size in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for step in (*STEPS, PART_OF_WRITING):
        lines.append(f"| {step} | " + " | ".join(f"{steps[size][step]:.3f}" for size in sizes) + " |")
    sums = (sum(steps[size][step] for step in STEPS) for size in sizes)
    lines.append("| sum of the steps | " + " | ".join(f"{total:.3f}" for total in sums) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100000, 1000000])
    parser.add_argument("--published-sizes", type=int, nargs="*", default=[100000])
    parser.add_argument("--published-python", default=".venv-published-plugin/bin/python")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, help="write the tables into this Markdown file")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("prepare", "steps"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _quiet_environment()
        measure = measure_prepare if args.mode == "prepare" else measure_steps
        print(json.dumps(measure(args.child, args.repeats)))
        return 0
    load_before = os.getloadavg()
    ours, published, steps = {}, {}, {}
    for size in args.sizes:
        if size in args.published_sizes:
            published[size], ours[size] = _interleaved(args.published_python, size, args.repeats)
        else:
            print(f"this plugin, {size:,} jobs ...", file=sys.stderr, flush=True)
            ours[size] = run_child(sys.executable, size, "prepare", args.repeats)
        print(f"  {ours[size]}", file=sys.stderr, flush=True)
        steps[size] = run_child(sys.executable, size, "steps", args.repeats)
        print(f"  {steps[size]}", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    text = (
        "`PanDAService.prepare` with each plugin's shipped defaults, measured "
        f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()} "
        f"(load average {load_before[0]:.1f} before, {load_after[0]:.1f} after), with `make bench-prepare` "
        f"(`python bench/prepare_speed.py --sizes {' '.join(map(str, args.sizes))} --published-sizes "
        f"{' '.join(map(str, args.published_sizes))}`). Fastest of {args.repeats}; where both plugins run, "
        "they alternate, every prepare in a fresh process, and the peak RSS increase is the largest of "
        "the runs; alone (1M), the runs share one process and the peak RSS increase is the first run's:"
        f"\n\n{speed_table(ours, published)}\n\n"
        f"Where this plugin's prepare spends its time (fastest of {args.repeats} per step, the steps one "
        "after the other; here the writing writes every dependency map's JSON, then waits for zlib; prepare "
        "itself writes each map's JSON as soon as its work is made, and compresses it in a thread beside "
        "the next works, so most of the writing runs beside the dependency maps and iDDS works):\n\n"
        f"{steps_table(steps)}"
    )
    print(text)
    if args.results:
        replace_block(args.results, MARKER, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
