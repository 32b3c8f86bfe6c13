# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""What prepare writes stays byte for byte what it was (issue 26: speed without a change of output).

``tests/data/prepare_fingerprints.json`` holds the SHA-256 of every file ``PanDAService.prepare``
wrote for fixed workflows and configurations (`support.prepare_fingerprint`), recorded on main
before prepare was optimised (commit 1ba9fa0).  Any change to the iDDS JSON that is submitted,
the manifest, the summary or the name maps fails here.  A deliberate change of output updates
the file with the digests this test prints.
"""

import json
from pathlib import Path

import pytest
from support.prepare_fingerprint import FINGERPRINT_CASES, fingerprint_case

RECORDED = Path(__file__).parents[1] / "data" / "prepare_fingerprints.json"


def test_every_case_has_a_recorded_fingerprint():
    assert sorted(json.loads(RECORDED.read_text())) == sorted(FINGERPRINT_CASES)


@pytest.mark.parametrize("case", sorted(FINGERPRINT_CASES))
def test_prepare_writes_the_recorded_bytes(case, tmp_path):
    recorded = json.loads(RECORDED.read_text())[case]
    written = fingerprint_case(case, tmp_path / "submit")
    assert "panda_workflow.idds.json" in written
    assert written == recorded, f"{case}: prepare's output changed; now\n{json.dumps(written, indent=1)}"
