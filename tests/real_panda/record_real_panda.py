# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Record ``tests/data/real_panda/`` from the real PanDA stack (``make record-real-panda``).

Usage (from the repository root, with the stack up: ``make real-panda``):
``.venv/bin/python tests/real_panda/record_real_panda.py [--home .real-panda] [--out DIR] [SCENARIO...]``.

Each scenario submits one DOMA task through the unmodified ``pandaclient`` (as ``DomaPanDAWork``
builds it), plays pilot with our executor through the real pilot API, and writes
``<scenario>.json``: the task's status sequence, each job's state sequence (state, attemptNr,
minRamCount, queue, pilotErrorCode, transExitCode) and every HTTP exchange the client made
(endpoint, request, the envelope of the reply; the first of each reply shape of an endpoint, since
samples repeat).  Nothing is normalised here: the shape test
(``tests/local/jedi/test_real_panda_shape.py``) normalises ids and times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
OUT = TESTS / "data" / "real_panda"


def _setup(home: Path) -> str:
    record = json.loads((home / "stack.json").read_text())
    os.environ.update(record["client_env"])  # before pandaclient is imported
    sys.path.insert(0, str(TESTS))
    return record["url"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="*")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("REAL_PANDA_HOME", ".real-panda")))
    parser.add_argument("--out", type=Path, default=OUT)
    arguments = parser.parse_args()
    url = _setup(arguments.home.absolute())
    from support.real_panda import SCENARIOS, RealPandaSession
    from support.real_panda_shape import distinct_exchanges

    arguments.out.mkdir(parents=True, exist_ok=True)
    stamp = int(time.time())
    with tempfile.TemporaryDirectory(prefix="real-panda-jobs-") as work:
        session = RealPandaSession(url, Path(work))
        for scenario in arguments.scenarios or list(SCENARIOS):
            began = time.monotonic()
            session.exchanges.clear()
            task_id, trace = SCENARIOS[scenario](session, f"rec_{scenario}_{stamp}")
            seconds = time.monotonic() - began
            document = {
                "scenario": scenario,
                "task_id": task_id,
                "seconds": round(seconds, 1),
                **trace,
                "exchanges": distinct_exchanges(session.exchanges),
            }
            (arguments.out / f"{scenario}.json").write_text(
                json.dumps(document, indent=1, default=str) + "\n"
            )
            print(f"{scenario}: task {task_id} {trace['task']} in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
