# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published plugin's own test suite, run unchanged against this package.

``make published-suite`` (a step of ``make test``) downloads the sdist of ``lsst-ctrl-bps-panda``
with pip and unpacks its ``tests/`` into ``.published-suite/<version>/`` (git-ignored), next to an
empty ``pytest.ini`` so that pytest takes none of this repository's settings; run as a script,
this module does the unpacking.  `run_published_suite` runs the files in a subprocess of this
venv's python, where ``lsst.ctrl.bps.panda`` is this package, with the PanDA URLs on loopback, and
returns each test's outcome.  The tests this package fails on purpose are the rows of the README's
"Migrating from 30.x" section whose first cell is a test id (`listed_in_readme`).
"""

import dataclasses
import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

__all__ = [
    "MAX_LISTED",
    "SUITE_DIR",
    "SuiteRun",
    "listed_in_readme",
    "run_published_suite",
    "unpack",
]

_REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLISHED_VERSION = "30.0.0"
"""Must match ``PUBLISHED_PANDA_VERSION`` in the Makefile."""
SUITE_DIR = _REPO_ROOT / ".published-suite" / PUBLISHED_VERSION
MAX_LISTED = 4
"""Most published tests the README may list as failing on purpose (issue 23)."""
_LOOPBACK_PANDA_URL = "http://127.0.0.1:1/server/panda"
_MIGRATING_HEADING = "## Migrating from 30.x"
_LISTED_ROW = re.compile(r"^\|\s*`(?P<test>tests/[\w/]+\.py::[\w:]+)`\s*\|(?P<reason>.*)\|\s*$")


@dataclasses.dataclass
class SuiteRun:
    """The outcome of one run of the published suite."""

    outcomes: dict[str, str]
    """``passed``, ``failed``, ``error`` or ``skipped`` by test id (``tests/<file>::<class>::<test>``)."""
    output: str
    """What pytest printed."""

    def with_outcome(self, outcome: str) -> set[str]:
        """Return the ids of the tests that ended so.

        Parameters
        ----------
        outcome : `str`
            ``passed``, ``failed``, ``error`` or ``skipped``.
        """
        return {test for test, found in self.outcomes.items() if found == outcome}


def unpack(archive_dir: Path, version: str) -> Path:
    """Unpack the ``tests/`` of the sdist in ``archive_dir`` into ``.published-suite/<version>/``.

    Parameters
    ----------
    archive_dir : `pathlib.Path`
        Where pip downloaded ``lsst_ctrl_bps_panda-<version>.tar.gz``.
    version : `str`
        The published version.

    Returns
    -------
    suite_dir : `pathlib.Path`
        The directory holding ``tests/`` and ``pytest.ini``.
    """
    archive = archive_dir / f"lsst_ctrl_bps_panda-{version}.tar.gz"
    suite_dir = archive_dir / version
    prefix = f"lsst_ctrl_bps_panda-{version}/tests/"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix)]
        if not members:
            raise SystemExit(f"{archive} has no {prefix}")
        for member in members:
            member.name = "tests/" + member.name[len(prefix) :]
        tar.extractall(suite_dir, members=members, filter="data")
    (suite_dir / "pytest.ini").write_text("[pytest]\n")
    return suite_dir


def run_published_suite(suite_dir: Path = SUITE_DIR, timeout: float = 300) -> SuiteRun:
    """Run the published tests against this package and return each one's outcome.

    Parameters
    ----------
    suite_dir : `pathlib.Path`, optional
        What `unpack` made.
    timeout : `float`, optional
        Seconds the run may take.
    """
    report = suite_dir / "report.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PANDA_"))}
    env.update(dict.fromkeys(("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"), _LOOPBACK_PANDA_URL))
    env["PANDA_BEHIND_REAL_LB"] = "1"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
        "tests",
    ]
    done = subprocess.run(
        command, cwd=suite_dir, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        module = case.get("classname", "").split(".")
        test_id = f"tests/{module[-2]}.py::{module[-1]}::{case.get('name')}"
        found = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[test_id] = {"failure": "failed"}.get(found[0], found[0]) if found else "passed"
    return SuiteRun(outcomes, done.stdout + done.stderr)


def listed_in_readme(readme: Path = _REPO_ROOT / "README.md") -> dict[str, str]:
    """Return the published tests the README lists as failing on purpose, with the reason given.

    Parameters
    ----------
    readme : `pathlib.Path`, optional
        The README; rows are read from its "Migrating from 30.x" section.
    """
    section = readme.read_text().split(_MIGRATING_HEADING, 1)[1].split("\n## ", 1)[0]
    listed = {}
    for line in section.splitlines():
        if match := _LISTED_ROW.match(line):
            listed[match["test"]] = match["reason"].strip()
    return listed


if __name__ == "__main__":
    print(unpack(Path(sys.argv[1]), sys.argv[2]))
