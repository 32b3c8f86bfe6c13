# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Commands recorded in the submit directory, and finding it from the id."""

import datetime
import json

import pytest
from idds.common.constants import RequestStatus
from lsst.ctrl.bps.panda.wms.run_commands import (
    last_command,
    note_command,
    record_command,
    submit_dir_of,
)
from lsst.ctrl.bps.panda.wms.submission import REQUEST_FILE


@pytest.fixture
def submit_dir(tmp_path):
    path = tmp_path / "submit" / "run"
    path.mkdir(parents=True)
    (path / REQUEST_FILE).write_text(json.dumps({"request_id": 42, "name": "run"}))
    return path


def test_a_command_is_recorded_with_the_request_as_it_was(submit_dir):
    before = {"status": RequestStatus.SubFinished, "updated_at": "Mon, 07 Dec 2026 10:22:20 UTC"}
    record_command(submit_dir, "restart", before)
    command = last_command(submit_dir)
    assert (command.verb, command.status) == ("restart", "SubFinished")
    assert command.updated_at == datetime.datetime(2026, 12, 7, 10, 22, 20, tzinfo=datetime.UTC)
    assert abs((datetime.datetime.now(datetime.UTC) - command.at).total_seconds()) < 60
    record_command(submit_dir, "cancel", {"status": "Transforming", "updated_at": None})
    assert last_command(submit_dir).verb == "cancel"
    record = json.loads((submit_dir / REQUEST_FILE).read_text())
    assert record["request_id"] == 42 and [c["verb"] for c in record["commands"]] == ["restart", "cancel"]


def test_no_command_recorded_reads_none(submit_dir, tmp_path):
    assert last_command(submit_dir) is None
    assert last_command(tmp_path) is None


def test_an_unknown_verb_is_refused(submit_dir):
    with pytest.raises(ValueError, match="unknown run command 'suspend'"):
        record_command(submit_dir, "suspend", {})


def test_the_submit_directory_is_found_from_itself_or_the_id_link(submit_dir, tmp_path, monkeypatch):
    assert submit_dir_of(str(submit_dir), 42) == submit_dir
    assert submit_dir_of(str(submit_dir), 43) is None  # another request's directory
    monkeypatch.chdir(tmp_path)
    assert submit_dir_of("42", 42) is None
    (tmp_path / "bps_links").mkdir()
    (tmp_path / "bps_links" / "42").symlink_to(submit_dir)
    assert submit_dir_of("42", 42) == tmp_path / "bps_links" / "42"


def test_noting_a_command_says_why_it_was_not_recorded(submit_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "no submit directory record was found for '42'" in note_command("42", 42, "restart", {})
    assert note_command(str(submit_dir), 42, "restart", {"status": "Failed"}) == ""
    assert last_command(submit_dir).status == "Failed"
