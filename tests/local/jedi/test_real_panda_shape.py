# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Our PanDA layer (`local/jedi`) held against the recording of the real panda-server + JEDI.

``tests/data/real_panda/<scenario>.json`` is what the real stack answered (``make
record-real-panda``).  Each scenario is played again here on our layer (the idds engine on a
stand-in iDDS stack: the same ``pandaclient`` calls, our engine running the jobs), and compared by
shape (`support.real_panda_shape`): keys, types and enumerations of every reply, ids and times
normalised; the task's status sequence and each job's state sequence of ours must be ordered
subsequences of JEDI's.  Every difference found must be one the recording's README lists (with
its reason) as a known difference of our layer; a new one fails the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.real_panda import SCENARIOS, PandaSession
from support.real_panda_shape import is_subsequence, replies_by_endpoint, shape_differences

pytestmark = pytest.mark.real_servers

RECORDING = Path(__file__).resolve().parents[2] / "data" / "real_panda"
NOT_PLAYED = {"brokerage_by_ram"}
"""Scenarios our layer does not play: it has no brokerage (a task runs at the queue it names)."""


def known_differences() -> set[str]:
    """The differences the recording's README lists: the first backquoted cell of each table row."""
    rows = re.findall(r"^\| `([^`]+)` \|", (RECORDING / "README.md").read_text(), re.M)
    return set(rows)


def job_sequences(trace):
    """Each job's state sequence, in PanDA id order (the states only)."""
    return [[state[0] for state in trace["jobs"][key]] for key in sorted(trace["jobs"], key=int)]


def differences(real, ours):
    found = set()
    real_replies, our_replies = replies_by_endpoint(real["exchanges"]), replies_by_endpoint(ours["exchanges"])
    for endpoint in sorted(real_replies):
        if endpoint not in our_replies:
            continue  # a call ours answers otherwise is compared under its other name
        found.update(
            f"{endpoint}{line}" for line in shape_differences(real_replies[endpoint], our_replies[endpoint])
        )
    for endpoint in sorted(set(our_replies) - set(real_replies)):
        found.add(f"{endpoint}: never answered so by the real server")
    if not is_subsequence(ours["task"], real["task"]):
        found.add(f"task sequence {ours['task']} not in {real['task']}")
    for kind in ("after_retry",):
        if kind in real and not is_subsequence(ours.get(kind, []), real[kind]):
            found.add(f"task sequence {kind} {ours.get(kind)} not in {real[kind]}")
    for mine, theirs in zip(job_sequences(ours), job_sequences(real), strict=False):
        if not is_subsequence(mine, theirs):
            found.add(f"job sequence {mine} not in {theirs}")
    found.update(attempt_differences(real["attempts"], ours["attempts"]))
    return found


ATTEMPT_FIELDS = ("jobStatus", "attemptNr", "minRamCount", "computingSite", "pilotErrorCode")


def attempt_differences(real, ours):
    """Compare every PanDA job of the task (each attempt) field by field: a list of values each."""
    if len(real) != len(ours):
        return {f"attempts: {len(ours)} PanDA jobs vs real {len(real)}"}
    found = set()
    for index, field in enumerate(ATTEMPT_FIELDS):
        mine, theirs = [a[index] for a in ours], [a[index] for a in real]
        if mine != theirs:
            found.add(f"attempts: {field} {mine} vs real {theirs}")
    return found


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - NOT_PLAYED))
def test_our_layer_has_the_shape_of_real_jedi(idds_engine, scenario):
    real = json.loads((RECORDING / f"{scenario}.json").read_text())
    session = PandaSession()
    try:
        _, trace = SCENARIOS[scenario](session, f"shape_{scenario}")
        ours = {**trace, "exchanges": list(session.exchanges)}
    finally:
        session.close()
    found = {f"{scenario}: {line}" for line in differences(real, ours)}
    unlisted = sorted(line for line in found if line.split(": ", 1)[1] not in known_differences())
    assert not unlisted, (
        "differences from real JEDI not listed in tests/data/real_panda/README.md:\n" + "\n".join(unlisted)
    )


def test_the_comparison_finds_a_planted_difference():
    real = json.loads((RECORDING / "success.json").read_text())
    ours = json.loads(json.dumps(real))
    for exchange in ours["exchanges"]:
        if exchange["endpoint"] == "job/get_description":
            for record in exchange["reply"]["data"] or []:
                record["transExitCode"] = 0
                record.pop("jobsetID")
    ours["task"] = ["done", "running"]
    found = differences(real, ours)
    assert "job/get_description.data[].transExitCode: ['int'] vs real ['str']" in found
    assert "job/get_description.data[].jobsetID: missing" in found
    assert any(line.startswith("task sequence ['done', 'running'] not in") for line in found)
