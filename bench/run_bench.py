#!/usr/bin/env python
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Benchmark prepare (and submit) of DRP-shaped workflows of N jobs.

Each size runs in a fresh subprocess so memory figures do not mix.  For each N
it reports: prepare wall time (``PanDAService.prepare``: conversion and
writing), conversion alone, µs per job, peak RSS increase during prepare,
written-file size, and the size of the gzip-compressed request body the PanDA
client would send for ``submit``, with compact job names (``enableCompactJobNames``) and with
one full pseudo input name per job.  With ``--submit`` it also submits to a
local PanDA started for the run and reports prepare+submit wall time.

Usage::

    python bench/run_bench.py --sizes 10000 100000 1000000 --results bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from results_file import replace_block

HERE = Path(__file__).resolve().parent
REPEATS = 3


class PeakRss:
    """Sample this process's RSS every few milliseconds; remember the peak."""

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def submission_body_size(idds_workflow) -> int:
    """Bytes of the gzip-compressed relay body the PanDA client sends for submit."""
    from idds.common.utils import json_dumps

    data = {
        "command_name": "submit",
        "args": json_dumps((idds_workflow,)),
        "kwargs": json_dumps({"username": None, "use_dataset_name": False}),
        "manager": True,
    }
    return len(gzip.compress(json.dumps(data).encode()))


def _start_local_panda(state_dir: Path):
    """Start a local PanDA in this process and point the PanDA client at it (before its import)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/server/panda"
    os.environ.update(
        PANDA_URL=url,
        PANDA_URL_SSL=url,
        PANDACACHE_URL=url,
        PANDA_BEHIND_REAL_LB="1",
        PANDA_AUTH="oidc",
        PANDA_AUTH_VO="local",
    )
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir

    server = LocalPandaServer(StateDir(state_dir), port=port, max_cores=1)
    server.start_in_thread()
    os.environ["PANDA_AUTH_ID_TOKEN"] = server.token
    return server


def measure_one(n_jobs: int, submit: bool) -> dict:
    """Run in the child process: measure one size and return the figures."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    import logging

    from lsst.ctrl.bps.panda import PanDAService
    from lsst.ctrl.bps.panda.prepare.convert import convert_workflow
    from lsst.ctrl.bps.panda.prepare.settings import SettingsReader
    from support.bps_configs import make_config
    from support.synthetic import make_drp_workflow

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        gw = make_drp_workflow(n_jobs, submit_dir=tmp)
        jobs = gw.number_of_nodes() + 1
        # Our compact job names (enableCompactJobNames), against plain full names below.
        config = make_config(tmp, enableCompactJobNames=True)
        # The full prepare (conversion + writing; peak memory from the first run, on a fresh
        # process), then conversion alone with full names. Timings are the best of REPEATS runs
        # below 200,000 jobs (this machine's timings vary by ~20 %).
        repeats = REPEATS if jobs < 200_000 else 1
        convert_seconds = prepare_seconds = float("inf")
        out = Path(tmp) / "submit"
        for attempt in range(repeats):
            with PeakRss() as measured:
                start = time.perf_counter()
                prepared = PanDAService({}).prepare(config, gw, str(out))
                prepare_seconds = min(prepare_seconds, time.perf_counter() - start)
            if attempt == 0:
                rss = measured
        for _ in range(repeats):
            start = time.perf_counter()
            full_names = convert_workflow(gw, SettingsReader(config), allow_job_name_map=False)
            convert_seconds = min(convert_seconds, time.perf_counter() - start)
        full_body = submission_body_size(full_names.idds_workflow)
        del full_names
        written = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
        figures = {
            "jobs": jobs,
            "tasks": len(prepared.tasks),
            "convert_s": convert_seconds,
            "prepare_s": prepare_seconds,
            "us_per_job": prepare_seconds / jobs * 1e6,
            "peak_rss_increase_mb": (rss.peak - rss.baseline) / 2**20,
            "written_mb": written / 2**20,
            "body_gzip_mb": submission_body_size(prepared.idds_workflow) / 2**20,
            "body_full_names_mb": full_body / 2**20,
        }
        if submit:
            # The synthetic quantum graph and final script must exist to be staged.
            for name in prepared.files_to_stage.values():
                if not os.path.exists(name):
                    Path(name).write_text("synthetic\n")
            server = _start_local_panda(Path(tmp) / "state")
            try:
                start = time.perf_counter()
                PanDAService(config).submit(prepared)
                figures["submit_s"] = time.perf_counter() - start
            finally:
                server.close()
            figures["prepare_submit_s"] = prepare_seconds + figures["submit_s"]
    return figures


def run_child(n_jobs: int, submit: bool) -> dict:
    """Measure one size in a fresh interpreter."""
    command = [sys.executable, __file__, "--child", str(n_jobs)] + (["--submit"] if submit else [])
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def results_table(rows: list[dict]) -> str:
    header = (
        "| jobs | tasks | prepare s | convert s (full names) | µs/job (prepare) | peak RSS +MB | written MB "
        "| submit body MB (job-name map) | submit body MB (full names) | prepare+submit s (local PanDA) |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r['jobs']:,} | {r['tasks']} | {r['prepare_s']:.2f} | {r['convert_s']:.2f} | "
        f"{r['us_per_job']:.1f} | {r['peak_rss_increase_mb']:.0f} | {r['written_mb']:.1f} | "
        f"{r['body_gzip_mb']:.2f} | {r['body_full_names_mb']:.2f} | "
        + (f"{r['prepare_submit_s']:.2f} |" if "prepare_submit_s" in r else "— |")
        for r in rows
    ]
    return header + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000, 1000000])
    parser.add_argument("--results", type=Path, help="write the table into this Markdown file")
    parser.add_argument("--submit", action="store_true", help="also submit to a local PanDA")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_one(args.child, args.submit)))
        return 0
    rows = []
    for size in args.sizes:
        print(f"measuring N={size:,} ...", file=sys.stderr, flush=True)
        rows.append(run_child(size, args.submit))
        print(results_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    table = results_table(rows)
    print(table)
    if args.results:
        machine = (
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}"
        )
        replace_block(
            args.results,
            "<!-- bench:prepare -->",
            f"Measured {time.strftime('%Y-%m-%d')} on {machine} with "
            f"`make bench` (`python bench/run_bench.py --sizes {' '.join(map(str, args.sizes))}"
            f"{' --submit' if args.submit else ''}`).\n\n{table}",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
