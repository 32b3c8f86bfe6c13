# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The build decoder on bad input: each failure has its own exit code and a message naming it.

The decoder runs as a file, as ``remoteBuild.runnerCommand`` runs it on a worker.  The whole
remote build (exit 0) is tested end to end in ``test_build_submission.py``.
"""

import io
import os
import subprocess
import sys
import tarfile

import pytest
from lsst.ctrl.bps.panda.edgenode.build_cmd_line_decoder import (
    EXIT_BAD_ARCHIVE,
    EXIT_BUILD_FAILED,
    EXIT_CODES,
    EXIT_IO_ERROR,
    EXIT_NO_ARCHIVE,
    EXIT_USAGE,
    archive_download_url,
    build_submit_path,
)
from support.loopback import TEST_PANDA_URL
from support.paths import REPO_ROOT

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(180)]

DECODER = REPO_ROOT / "python/lsst/ctrl/bps/panda/edgenode/build_cmd_line_decoder.py"
BUILD_ENV = {"IDDS_BUILD_REQUEST_ID": "7", "IDDS_BUIL_SIGNATURE": "0f0e-signature"}


def run_decoder(args, cwd, **env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDDS_BUIL")}
    env.update(BUILD_ENV)
    for name, value in env_overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run(
        [sys.executable, str(DECODER), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=150
    )
    return result.returncode, result.stderr


def archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_every_exit_code_is_documented_in_the_readme_table_of_the_build_decoder():
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("| exit code (build decoder) | meaning |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    assert sorted(int(row.split("|")[1]) for row in rows) == sorted(EXIT_CODES)


@pytest.mark.parametrize(
    "args, env, words",
    [
        ([], {}, "expected 2 or 3 arguments"),
        (["file:///x/jobO.a.tar.gz", "dir/submit.yaml"], {}, "expected 2 or 3 arguments"),
        (["file:///x/jobO.a.tar.gz", "submit.yaml"], {"IDDS_BUILD_REQUEST_ID": None}, "not set"),
        (["file:///x/jobO.a.tar.gz", "submit.yaml"], {"IDDS_BUILD_REQUEST_ID": "x1"}, "'x1'"),
        (["file:///x/jobO.a.tar.gz", "submit.yaml"], {"IDDS_BUIL_SIGNATURE": "None"}, "was not signed"),
    ],
)
def test_malformed_arguments_or_build_variables_exit_64(tmp_path, args, env, words):
    code, stderr = run_decoder(args, tmp_path, **env)
    assert code == EXIT_USAGE, stderr
    assert words in stderr


def test_an_archive_that_is_not_there_exits_66(tmp_path):
    code, stderr = run_decoder([f"file://{tmp_path}/jobO.gone.tar.gz", "submit.yaml"], tmp_path)
    assert code == EXIT_NO_ARCHIVE, stderr
    assert "does not exist" in stderr


def test_an_archive_the_cache_does_not_hold_exits_66(local_panda, tmp_path):
    url = f"{TEST_PANDA_URL}/cache/jobO.not-uploaded.tar.gz"
    code, stderr = run_decoder(
        [url, "submit.yaml"],
        tmp_path,
        PANDA_AUTH_ID_TOKEN=None,
        PANDA_AUTH_DIR=str(local_panda.state.token_path),
        PANDA_AUTH_ORIGIN="local",
    )
    assert code == EXIT_NO_ARCHIVE, stderr
    assert "is not in the PanDA cache (HTTP 404)" in stderr


def test_a_cache_that_refuses_the_token_exits_74(local_panda, tmp_path):
    url = f"{TEST_PANDA_URL}/cache/jobO.any.tar.gz"
    code, stderr = run_decoder([url, "submit.yaml"], tmp_path, PANDA_AUTH="oidc", PANDA_AUTH_ID_TOKEN="wrong")
    assert code == EXIT_IO_ERROR, stderr
    assert "HTTP 403" in stderr


@pytest.mark.parametrize(
    "members, words",
    [
        (None, "cannot unpack"),
        ({"../escape.yaml": b"x: 1\n"}, "cannot unpack"),
        ({"other.yaml": b"x: 1\n"}, "holds no submit YAML 'submit.yaml'"),
        ({"submit.yaml": b"x: 1\n", "bps_remote_build.json": b"{not json"}, "is not JSON"),
    ],
)
def test_an_unreadable_or_unsafe_archive_exits_65(tmp_path, members, words):
    path = tmp_path / "jobO.bad.tar.gz"
    if members is None:
        path.write_bytes(b"this is not gzip")
    else:
        archive(path, members)
    work = tmp_path / "work"
    work.mkdir()
    code, stderr = run_decoder([f"file://{path}", "submit.yaml"], work)
    assert code == EXIT_BAD_ARCHIVE, stderr
    assert words in stderr
    assert not (tmp_path / "escape.yaml").exists()


def test_a_build_that_cannot_make_the_workflow_exits_70(tmp_path):
    submit_yaml = b"pipelineYaml: missing_pipeline.yaml\npayload:\n  payloadName: broken\n"
    path = archive(tmp_path / "jobO.broken.tar.gz", {"submit.yaml": submit_yaml})
    work = tmp_path / "work"
    work.mkdir()
    code, stderr = run_decoder([f"file://{path}", "submit.yaml"], work)
    assert code == EXIT_BUILD_FAILED, stderr[-3000:]
    assert "the build failed" in stderr


def test_the_archive_is_read_where_the_panda_client_reads_it():
    url = "https://pandaserver-doma.cern.ch:25443/server/panda/cache/jobO.1.tar.gz"
    assert archive_download_url(url) == "https://pandaserver-doma.cern.ch:25443/cache/jobO.1.tar.gz"
    assert archive_download_url("s3://bucket/jobO.1.tar.gz") == "s3://bucket/jobO.1.tar.gz"


def test_the_build_makes_its_submit_directory_in_its_working_directory_whatever_the_yaml_says(
    local_panda, tmp_path
):
    # An absolute submitPath that exists, as the one ``bps submit`` made on a shared file system.
    taken = tmp_path / "submitter" / "submit" / "u/someone/run"
    taken.mkdir(parents=True)
    submit_yaml = (
        f"submitPath: {tmp_path}/submitter/submit/{{outputRun}}\n"
        "wmsServiceClass: lsst.ctrl.bps.panda.PanDAService\n"
        "pipelineYaml: missing_pipeline.yaml\npayload:\n  payloadName: absolute\n  outputRun: u/someone/run\n"
    ).encode()
    path = archive(tmp_path / "jobO.absolute.tar.gz", {"submit.yaml": submit_yaml})
    work = tmp_path / "work"
    work.mkdir()
    # A PanDA to answer the submission checks ctrl_bps runs before it makes the submit directory.
    code, stderr = run_decoder([f"file://{path}", "submit.yaml"], work)
    # It gets past the submit directory to the missing pipeline (the exit code of any failed build).
    assert code == EXIT_BUILD_FAILED, stderr[-3000:]
    assert "missing_pipeline.yaml" in stderr and "FileExistsError" not in stderr
    assert (work / "submit/u/someone/run/submit.yaml").is_file()
    assert list(taken.iterdir()) == []
    assert build_submit_path(work) == f"{work}/submit/{{outputRun}}"
