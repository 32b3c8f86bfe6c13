# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The worker-side decoder, run as a pilot runs it: ``bash -c`` on the task executable."""

import json
import os
import shutil
import signal
import subprocess
import sys

import boto3
import pytest
from lsst.ctrl.bps.panda.edgenode.cmd_line_decoder import (
    EXIT_CONFIG,
    EXIT_NO_INPUT,
    EXIT_USAGE,
    resolve_map_name,
    use_map_file,
)
from lsst.ctrl.bps.panda.edgenode.job_contract import DecoderError
from lsst.ctrl.bps.panda.prepare.command_line import StagedFileRef, command_line_for
from lsst.ctrl.bps.panda.wms.staging import stage_files
from lsst.resources.s3utils import _get_s3_client
from moto.server import ThreadedMotoServer
from support.pilot import DECODER, PAYLOAD, dumped, job_env, make_task, pilot_run


def test_env_placeholders_come_from_the_worker_environment(tmp_path):
    arguments = '"<ENV:RT_DIR>/bin" <ENV:RT_WORD> "<ENV:RT_EMPTY>"'
    env = job_env(RT_DIR="/opt/some dir", RT_WORD="w", RT_EMPTY="")
    executable, pseudo = make_task(arguments)
    assert dumped(pilot_run(executable, pseudo, tmp_path, env))["argv"] == ["/opt/some dir/bin", "w", ""]


def test_substituted_values_are_not_interpreted_again(tmp_path):
    env = job_env(RT_LOOKS_LIKE="{qgraphNodeId}<FILE:x>")
    executable, pseudo = make_task(
        "'<ENV:RT_LOOKS_LIKE>' '{qgraphNodeId}'",
        cmdvals={"qgraphNodeId": "<ENV:RT_NONE>"},
        per_job=["qgraphNodeId"],
    )
    argv = dumped(pilot_run(executable, pseudo, tmp_path, env))["argv"]
    assert argv == ["{qgraphNodeId}<FILE:x>", "<ENV:RT_NONE>"]


@pytest.fixture
def local_end_point(tmp_path):
    """Stage files to a local end point with a space in its path; return the end point."""
    sources = tmp_path / "submit"
    (sources / "pipeline" / "sub").mkdir(parents=True)
    (sources / "butler.yaml").write_text("datastore: x\n")
    (sources / "wf.qgraph").write_bytes(b"\0graph")
    (sources / "pipeline" / "sub" / "task.py").write_text("config = 1\n")
    shutil.copy(PAYLOAD, sources / "run_me.py")
    (sources / "run_me.py").chmod(0o644)
    end_point = f"{tmp_path}/end point/"
    names = ["butler.yaml", "wf.qgraph", "pipeline", "run_me.py"]
    stage_files({name: str(sources / name) for name in names}, end_point)
    return end_point


# A copied file, a file read in place and a copied directory.
STAGED_FILES = [
    StagedFileRef("butlerConfig", "butler.yaml", direct_io=False),
    StagedFileRef("runQgraphFile", "wf.qgraph", direct_io=True),
    StagedFileRef("pipelineDir", "pipeline", direct_io=False),
]


def test_copied_and_direct_io_files(local_end_point, tmp_path):
    files = STAGED_FILES
    executable, pseudo = make_task(
        '-b <FILE:butlerConfig> -g "{fileDistributionEndPoint}<FILE:runQgraphFile>" -p <FILE:pipelineDir>',
        files=files,
        end_point=local_end_point,
    )
    out = dumped(pilot_run(executable, pseudo, tmp_path / "work"))
    assert out["argv"] == ["-b", "butler.yaml", "-g", f"{local_end_point}wf.qgraph", "-p", "pipeline"]
    assert out["files"] == ["butler.yaml", "pipeline/sub/task.py"]


def test_file_uri_end_point_is_read_locally(local_end_point, tmp_path):
    files = [StagedFileRef("butlerConfig", "butler.yaml", direct_io=False)]
    end_point = "file://" + local_end_point.replace(" ", "%20")
    executable, pseudo = make_task("<FILE:butlerConfig>", files=files, end_point=end_point)
    out = dumped(pilot_run(executable, pseudo, tmp_path / "work"))
    assert out["argv"] == ["butler.yaml"] and out["files"] == ["butler.yaml"]


def test_transferred_executable_is_copied_and_made_executable(local_end_point, tmp_path):
    files = [StagedFileRef("run_me.py", "run_me.py", direct_io=False)]
    executable, pseudo = make_task(
        "--arg 'x y'", executable="./<FILE:run_me.py>", files=files, end_point=local_end_point
    )
    out = dumped(pilot_run(executable, pseudo, tmp_path / "work"))
    assert out["argv"] == ["--arg", "x y"]
    assert os.access(tmp_path / "work" / "run_me.py", os.X_OK)


FAKE_PRMON = """#!/bin/bash
# Stands in for prmon (on neither PyPI nor Debian): waits for -p PID, writes the -j summary.
while [[ $# -gt 0 ]]; do case $1 in -p) pid=$2; shift ;; -j) summary=$2; shift ;; esac; shift; done
for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
echo '{"Max": {"pss": 1}}' > "$summary"
"""


def test_default_layered_runner_runs_the_decoder_under_prmon(local_end_point, tmp_path):
    from lsst.ctrl.bps.panda.prepare.settings import SettingsReader
    from support.bps_configs import make_config

    runner = SettingsReader(make_config(str(tmp_path))).label("isr", None).runner_command
    assert "prmon -i 5" in runner and "cmd_line_decoder.py _cmd_line_" in runner
    files = [StagedFileRef("butlerConfig", "butler.yaml", direct_io=False)]
    executable, pseudo = make_task(
        "<FILE:butlerConfig> {qgraphNodeId}",
        cmdvals={"qgraphNodeId": "n"},
        per_job=["qgraphNodeId"],
        files=files,
        end_point=local_end_point,
        runner=runner,
    )
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "prmon").write_text(FAKE_PRMON)
    (tools / "prmon").chmod(0o755)
    python_dir = os.path.dirname(sys.executable)
    env = job_env(
        CTRL_BPS_PANDA_DIR=str(DECODER.parents[6]), PATH=f"{tools}:{python_dir}:{os.environ['PATH']}"
    )
    result = pilot_run(executable, pseudo, tmp_path / "work", env)
    # The payload's stdout goes to stderr through jobContainer's >&2, as at the sites.
    assert result.returncode == 0, result.stderr
    assert '"argv": ["butler.yaml", "n"]' in result.stderr
    assert (tmp_path / "work" / "memory_monitor_summary.json").read_text().strip() == '{"Max": {"pss": 1}}'


@pytest.mark.parametrize(
    ("payload", "code"), [("true", 0), ("exit 3", 3), ("kill -9 $$", 128 + 9), ("exit 255", 255)]
)
def test_exit_code_is_the_payloads(payload, code, tmp_path):
    executable, pseudo = make_task(None, executable=payload)
    result = pilot_run(executable, pseudo, tmp_path)
    assert result.returncode == code, result.stderr
    assert f"running: {payload}" in result.stderr


def test_unset_environment_variable_is_a_clear_error(tmp_path):
    executable, pseudo = make_task("<ENV:RT_SET> <ENV:RT_MISSING_ONE> <ENV:RT_MISSING_TWO>")
    result = pilot_run(executable, pseudo, tmp_path, job_env(RT_SET="1"))
    assert result.returncode == EXIT_CONFIG
    assert "RT_MISSING_ONE, RT_MISSING_TWO" in result.stderr and "not set" in result.stderr
    assert result.stdout == ""


def test_missing_staged_file_is_a_clear_error(tmp_path):
    files = [StagedFileRef("butlerConfig", "butler.yaml", direct_io=False)]
    executable, pseudo = make_task("<FILE:butlerConfig>", files=files, end_point=f"{tmp_path}/empty/")
    result = pilot_run(executable, pseudo, tmp_path / "work")
    assert result.returncode == EXIT_NO_INPUT
    assert f"'butlerConfig' not found at {tmp_path}/empty/butler.yaml" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["616263", "job", "+", "+"], "was ${IN/L} replaced"),
        (["zz", "job", "+", "+", "+"], "not hex"),
        ([b"<FILE:x>".hex(), "job", "+", "+", "+"], "<FILE:x>"),
        (["61", "job+novalue", "+", "+", "+"], "key:value"),
        (["61", "job", "+", "k:b", "other"], "direct-io keys ['other']"),
        (["61", "job", "+", "k:b", "+"], "end point is empty"),
    ],
    ids=[
        "in-not-replaced",
        "bad-hex",
        "unknown-file-key",
        "bad-pseudo-input",
        "bad-direct-io",
        "no-end-point",
    ],
)
def test_malformed_arguments_are_usage_errors(args, message, tmp_path):
    result = subprocess.run(
        [sys.executable, str(DECODER), *args], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == EXIT_USAGE
    assert message in result.stderr


def test_termination_signal_is_passed_to_the_payload(tmp_path):
    line = command_line_for(
        job_name="j",
        executable="echo",
        arguments="payload-$((6 * 7)) >&2; exec sleep 30",
        cmdvals={},
        per_job_keys=frozenset(),
        environment=None,
    )
    args = [sys.executable, str(DECODER), line.encode().hex(), "j", "+", "+", "+"]
    with subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, text=True) as process:
        # The payload says it runs (so the decoder has started it and forwards signals): no timed wait.
        # The marker is computed by the payload's shell, so the decoder's log of the line cannot match.
        assert "payload-42" in _read_until(process.stderr, "payload-42")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 128 + signal.SIGTERM


def _read_until(stream, marker):
    text = ""
    while marker not in text:
        line = stream.readline()
        if not line:
            break
        text += line
    return text


@pytest.fixture(scope="module")
def s3_server():
    """Run a moto S3 server on loopback, for decoder subprocesses."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Point this process and its children at the moto server."""
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "S3_ENDPOINT_URL": s3_server,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    _get_s3_client.cache_clear()
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="decoder-test")
    yield values
    _get_s3_client.cache_clear()


@pytest.mark.real_servers  # moto's S3 server and the decoder in a subprocess
def test_files_are_fetched_from_s3(s3_env, tmp_path):
    (tmp_path / "src" / "pipeline").mkdir(parents=True)
    (tmp_path / "src" / "butler.yaml").write_text("x")
    (tmp_path / "src" / "wf.qgraph").write_text("g")
    (tmp_path / "src" / "pipeline" / "a.yaml").write_text("a")
    end_point = "s3://decoder-test/run 1/"
    stage_files(
        {name: str(tmp_path / "src" / name) for name in ("butler.yaml", "wf.qgraph", "pipeline")}, end_point
    )
    files = STAGED_FILES
    executable, pseudo = make_task(
        "<FILE:butlerConfig> '{fileDistributionEndPoint}<FILE:runQgraphFile>' <FILE:pipelineDir>",
        files=files,
        end_point=end_point,
    )
    out = dumped(pilot_run(executable, pseudo, tmp_path / "work", job_env(**s3_env)))
    assert out["argv"] == ["butler.yaml", f"{end_point}wf.qgraph", "pipeline"]
    assert out["files"] == ["butler.yaml", "pipeline/a.yaml"]
    assert (tmp_path / "work" / "butler.yaml").read_text() == "x"

    missing = [StagedFileRef("other", "absent.yaml", direct_io=False)]
    executable, pseudo = make_task("<FILE:other>", files=missing, end_point=end_point)
    result = pilot_run(executable, pseudo, tmp_path / "work2", job_env(**s3_env))
    assert result.returncode == EXIT_NO_INPUT
    assert f"'other' not found at {end_point}absent.yaml" in result.stderr


def test_compact_name_without_a_staged_job_name_map_is_a_clear_error(tmp_path, capsys):
    from lsst.ctrl.bps.panda.edgenode.cmd_line_decoder import EXIT_NO_INPUT, main

    args = [b"echo hi".hex(), "@3.1041", f"{tmp_path}/", "+", "+"]
    assert main(args) == EXIT_NO_INPUT
    assert "job_names/3/1.json" in capsys.readouterr().err


def test_values_starting_with_the_compact_marker_are_encoded():
    from lsst.ctrl.bps.panda.edgenode.job_contract import decode_token, encode_token

    assert encode_token("@job").startswith("=")
    assert decode_token(encode_token("@job")) == "@job"


@pytest.mark.parametrize(
    ("event", "order"),
    [("isr:eventservice_10^1", "10"), ("isr:eventservice_10^3", "12"), ("isr:eventservice_10^3^1", "12")],
)
def test_event_is_the_order_id_start_plus_k_minus_one_in_the_order_id_map(event, order, tmp_path):
    names = {"isr": {str(n): f"isr_{n}+qgraphNodeId:q{n}" for n in range(10, 13)}}
    (tmp_path / "map.json").write_text(json.dumps(names))
    files = {"orderIdMapFilename": str(tmp_path / "map.json")}
    assert resolve_map_name(event, files, "") == names["isr"][order]


@pytest.mark.parametrize(
    ("event", "message"), [("isr:eventservice_10^0", "count from 1"), ("isr:eventservice_10^4", "not in")]
)
def test_event_outside_its_range_is_a_usage_error_naming_it(event, message, tmp_path):
    (tmp_path / "map.json").write_text(json.dumps({"isr": {"10": "isr_10"}}))
    with pytest.raises(DecoderError, match=message) as error:
        resolve_map_name(event, {"orderIdMapFilename": str(tmp_path / "map.json")}, "")
    assert error.value.exit_code == EXIT_USAGE and event in str(error.value)


@pytest.mark.parametrize(
    ("pseudo_input", "expected"),
    [
        ("PH:isr_903342_10", True),
        ("XX:isr", False),
        ("PH12345", False),
        ("PH:a:b", False),
        ("isr+k:v", False),
    ],
)
def test_use_map_file_tells_a_qnode_map_name(pseudo_input, expected):
    assert use_map_file(pseudo_input) is expected
