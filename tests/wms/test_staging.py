# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Staging a prepared workflow's files to fileDistributionEndPoint (local and moto-backed s3)."""

import logging
import os

import boto3
import pytest
from lsst.ctrl.bps.panda.errors import PandaConfigError, PandaStagingError
from lsst.ctrl.bps.panda.wms import staging
from lsst.ctrl.bps.panda.wms.staging import stage_files
from lsst.resources import ResourcePath
from lsst.resources.file import FileResourcePath
from lsst.resources.s3utils import clean_test_environment_for_s3
from moto import mock_aws

BUCKET = "staging-test"


@pytest.fixture
def sources(tmp_path):
    """Files of a prepared workflow: a graph, a config, a script and a directory."""
    root = tmp_path / "submit"
    (root / "pipeline" / "sub").mkdir(parents=True)
    (root / "wf.qgraph").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (root / "butler.yaml").write_text("datastore: x\n")
    (root / "final_job.bash").write_text("#!/bin/bash\nbutler aggregate-graph\n")
    (root / "pipeline" / "a.yaml").write_text("a\n")
    (root / "pipeline" / "sub" / "b.yaml").write_text("b\n")
    return {name: str(root / name) for name in ("wf.qgraph", "butler.yaml", "final_job.bash", "pipeline")}


@pytest.fixture(params=["local", "s3"])
def end_point(request, tmp_path):
    """Return an empty end point: a local directory, or a prefix in moto's in-process S3."""
    if request.param == "local":
        yield f"{tmp_path}/end point/run1/"
        return
    with clean_test_environment_for_s3(), mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield f"s3://{BUCKET}/run 1/"


def read(uri):
    """Return the bytes at ``uri``."""
    return ResourcePath(uri).read()


def test_files_and_directories_arrive_with_their_content(sources, end_point):
    report = stage_files(sources, end_point)
    assert report.copied == ("butler.yaml", "final_job.bash", "pipeline", "wf.qgraph")
    assert report.unchanged == ()
    assert report.file_count == 5
    assert report.byte_count == sum(ResourcePath(sources[n]).size() for n in sources if n != "pipeline") + 4
    for name in ("wf.qgraph", "butler.yaml", "final_job.bash"):
        assert read(end_point + name) == read(sources[name])
    assert read(end_point + "pipeline/sub/b.yaml") == b"b\n"


def test_restaging_identical_files_copies_nothing(sources, end_point):
    stage_files(sources, end_point)
    report = stage_files(sources, end_point)
    assert report.copied == () and report.file_count == 0
    assert report.unchanged == ("butler.yaml", "final_job.bash", "pipeline", "wf.qgraph")


def test_restaging_a_changed_file_fails_and_keeps_the_staged_one(sources, end_point):
    stage_files(sources, end_point)
    with open(sources["butler.yaml"], "a") as stream:
        stream.write("changed: 1\n")
    with pytest.raises(PandaStagingError, match=r"butler\.yaml.*different content") as caught:
        stage_files(sources, end_point)
    assert set(caught.value.failures) == {"butler.yaml"}
    assert caught.value.staged == ("final_job.bash", "pipeline", "wf.qgraph")
    assert read(end_point + "butler.yaml") == b"datastore: x\n"


def test_overwrite_replaces_a_changed_file(sources, end_point):
    stage_files(sources, end_point)
    with open(sources["pipeline"] + "/sub/b.yaml", "w") as stream:
        stream.write("same size? no, longer\n")
    report = stage_files(sources, end_point, overwrite=True)
    assert report.copied == ("pipeline",)
    assert read(end_point + "pipeline/sub/b.yaml") == b"same size? no, longer\n"


def test_same_size_different_content_is_detected(sources, end_point):
    stage_files(sources, end_point)
    with open(sources["butler.yaml"], "w") as stream:
        stream.write("datastore: y\n")
    with pytest.raises(PandaStagingError, match="different content"):
        stage_files(sources, end_point)


def test_missing_source_is_named_and_not_reported_staged(sources, end_point, tmp_path):
    files = {**sources, "missing.yaml": str(tmp_path / "nowhere" / "missing.yaml")}
    with pytest.raises(PandaStagingError) as caught:
        stage_files(files, end_point)
    message = str(caught.value)
    assert "1 of 5 files" in message
    assert f"missing.yaml (from {tmp_path}/nowhere/missing.yaml): source" in message
    assert "does not exist" in message
    assert "missing.yaml" not in caught.value.staged
    assert not ResourcePath(end_point + "missing.yaml").exists()
    assert caught.value.staged == ("butler.yaml", "final_job.bash", "pipeline", "wf.qgraph")
    for path in ("butler.yaml", "final_job.bash", "pipeline/sub/b.yaml", "wf.qgraph"):
        assert ResourcePath(end_point + path).exists()


def test_empty_directory_is_staged(tmp_path, end_point):
    (tmp_path / "empty").mkdir()
    assert stage_files({"empty": str(tmp_path / "empty")}, end_point).copied == ("empty",)
    assert stage_files({"empty": str(tmp_path / "empty")}, end_point).unchanged == ("empty",)


def test_source_without_scheme_is_a_local_path_relative_to_cwd(sources, tmp_path, monkeypatch):
    monkeypatch.chdir(os.path.dirname(sources["butler.yaml"]))
    report = stage_files({"butler.yaml": "butler.yaml", "a.yaml": "pipeline/a.yaml"}, "ep/")
    assert report.copied == ("a.yaml", "butler.yaml")
    assert (tmp_path / "submit" / "ep" / "a.yaml").read_text() == "a\n"


def test_files_can_come_from_s3(tmp_path):
    with clean_test_environment_for_s3(), mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        ResourcePath(f"s3://{BUCKET}/src/dir/x.txt").write(b"x")
        ResourcePath(f"s3://{BUCKET}/src/f.txt").write(b"f")
        files = {"dir": f"s3://{BUCKET}/src/dir", "f.txt": f"s3://{BUCKET}/src/f.txt"}
        assert stage_files(files, str(tmp_path / "ep")).copied == ("dir", "f.txt")
    assert (tmp_path / "ep" / "dir" / "x.txt").read_bytes() == b"x"


def test_file_that_does_not_arrive_is_a_failure(sources, tmp_path, monkeypatch):
    monkeypatch.setattr(FileResourcePath, "transfer_from", lambda self, src, transfer, **kw: None)
    with pytest.raises(PandaStagingError, match="missing after the transfer") as caught:
        stage_files({"butler.yaml": sources["butler.yaml"]}, str(tmp_path / "ep"))
    assert caught.value.staged == ()


def test_file_that_arrives_truncated_is_a_failure(sources, tmp_path, monkeypatch):
    def truncated_copy(self, src, transfer, **kw):
        self.write(src.read()[:-1])

    monkeypatch.setattr(FileResourcePath, "transfer_from", truncated_copy)
    with pytest.raises(PandaStagingError, match=r"has 12 bytes after the transfer, expected 13"):
        stage_files({"butler.yaml": sources["butler.yaml"]}, str(tmp_path / "ep"))


@pytest.mark.parametrize("name", ["a/b", "", ".", ".."])
def test_name_must_be_a_plain_basename(name, sources, tmp_path):
    with pytest.raises(PandaStagingError, match="not a plain file name"):
        stage_files({name: sources["butler.yaml"]}, str(tmp_path / "ep"))


def test_files_without_end_point_are_a_config_error(sources):
    with pytest.raises(PandaConfigError, match="fileDistributionEndPoint is empty"):
        stage_files(sources, "")
    assert stage_files({}, "").staged == ()


def test_progress_is_logged_for_many_files(tmp_path, monkeypatch, caplog):
    (tmp_path / "many").mkdir()
    for index in range(40):
        (tmp_path / "many" / f"f{index:02d}").write_text(str(index))
    monkeypatch.setattr(staging, "PROGRESS_INTERVAL", 0.0)
    with caplog.at_level(logging.INFO, logger="lsst.ctrl.bps.panda.wms.staging"):
        report = stage_files({"many": str(tmp_path / "many")}, str(tmp_path / "ep"), max_workers=4)
    assert report.file_count == 40
    progress = [r for r in caplog.records if r.getMessage().startswith("Staging: ")]
    assert progress and progress[-1].getMessage().startswith("Staging: 40/40 files done")
