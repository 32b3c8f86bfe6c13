"""End to end: the demo flow through the real `bps` CLI on the local PanDA, with a restart.

One step2 quantum fails on its first run; `bps restart` recovers the run.  The test then checks
the butler outputs and the per-label report itself.
"""

import getpass
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"


def report_rows(text):
    """Return {label: [counts...]} of the last per-label table `bps report` printed."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^(pipetaskInit|step1|step2|step3|finalJob|TOTAL)\s+((?:\d+\s+)+\d+)\s*$", line)
        if match:
            rows[match.group(1)] = [int(n) for n in match.group(2).split()]
    return rows


@pytest.mark.timeout(900)
def test_demo_with_one_failure_recovers_through_restart(tmp_path):
    work = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PANDA_", "BPS_"))}
    env["VENV_DIR"] = str(Path(sys.executable).parent.parent)
    result = subprocess.run(
        [
            "bash",
            str(DEMO / "run_demo.sh"),
            "--fail-one",
            "--detectors",
            "2",
            "--work",
            str(work),
            "--timeout",
            "600",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=850,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "DEMO OK" in output

    # The first run failed (one step2 job, its step3 child pruned); the restart ended it SUCCEEDED.
    assert re.search(r"run \d+: FAILED", output), output[-4000:]
    rows = report_rows(output)
    succeeded = 8  # index of SUCCEEDED among WmsStates columns
    assert {label: counts[succeeded] for label, counts in rows.items()} == {
        "TOTAL": 8,
        "pipetaskInit": 1,
        "step1": 2,
        "step2": 2,
        "step3": 2,
        "finalJob": 1,
    }
    assert rows["TOTAL"][-1] == 8  # EXPECTED

    sys.path.insert(0, str(DEMO))
    try:
        from make_repo import verify_outputs
    finally:
        sys.path.remove(str(DEMO))
    collection = f"u/{getpass.getuser()}/demo"
    assert verify_outputs(work / "repo" / "butler.yaml", collection) == []
