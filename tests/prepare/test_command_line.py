# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Job command lines: submit-side embedding, and the round trip through the decoder as a pilot runs it."""

import random
import re
import shlex
import subprocess

import pytest
from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowFile, GenericWorkflowJob
from lsst.ctrl.bps.panda.edgenode.job_contract import (
    COMPACT_GUARD,
    GUARD_FILE_KEY,
    GUARD_FILE_NAME,
    decode_token,
    encode_token,
    parse_pseudo_input,
)
from lsst.ctrl.bps.panda.errors import PandaConfigError, PandaPrepareError
from lsst.ctrl.bps.panda.prepare.command_line import (
    IN_PLACEHOLDER,
    StagedFileRef,
    command_line_for,
    pseudo_input_name,
    runner_executable,
)
from lsst.ctrl.bps.panda.wms.staging import stage_files
from support.hostile_values import HOSTILE_VALUES
from support.pilot import (
    DUMP,
    FILE_RUNNER,
    HOSTILE_ARGS,
    MODULE_RUNNER,
    PAYLOAD,
    bash_argv,
    dumped,
    job_env,
    make_task,
    pilot_run,
)

SHELL_SAFE = re.compile(r"[A-Za-z0-9_.\-/=,@+:]*")


def command(**kwargs):
    """Return ``command_line_for`` of a job ``job1`` running ``/bin/run``, with overrides."""
    values = {"job_name": "job1", "executable": "/bin/run", "arguments": None, "cmdvals": {}}
    values.update(per_job_keys=frozenset(), environment=None)
    values.update(kwargs)
    return command_line_for(**values)


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_encode_token_is_shell_safe_and_reversible(value):
    token = encode_token(value)
    assert SHELL_SAFE.fullmatch(token)
    assert "+" not in token and ":" not in token
    assert decode_token(token) == value


def test_encode_token_keeps_safe_values_readable():
    assert encode_token("6a1f-33,b2@x/y.z") == "6a1f-33,b2@x/y.z"
    assert encode_token("=x") != "=x"


def test_pseudo_input_name_carries_hostile_values_reversibly():
    values = {f"key{i}": value for i, value in enumerate(HOSTILE_VALUES)}
    name = pseudo_input_name("job+name:1", values)
    assert SHELL_SAFE.fullmatch(name)
    # A shell pastes it as exactly one word.
    echoed = subprocess.run(["bash", "-c", f"printf '%s\\0' {name}"], capture_output=True, check=True).stdout
    assert echoed == name.encode() + b"\0"
    assert parse_pseudo_input(name) == ("job+name:1", values)


def test_pseudo_input_name_keeps_value_order_and_converts_to_text():
    name = pseudo_input_name("j", {"qgraphNodeId": "u1", "qgraphId": 42})
    assert name == "j+qgraphNodeId:u1+qgraphId:42"


def test_fixed_values_are_filled_and_per_job_keys_stay_open():
    line = command(
        arguments="--butler {butlerConfig} --node {qgraphNodeId} --graph {qgraphId}",
        cmdvals={"butlerConfig": "/repo/butler.yaml", "qgraphNodeId": "n", "qgraphId": "g"},
        per_job_keys=frozenset({"qgraphNodeId"}),
    )
    assert line == "/bin/run --butler /repo/butler.yaml --node {qgraphNodeId} --graph g"


def test_missing_value_names_job_and_placeholder():
    with pytest.raises(PandaPrepareError, match=r"'job1'.*\{dataQuery\}"):
        command(arguments="-d {dataQuery}", cmdvals={"other": 1})


def test_end_point_before_a_file_placeholder_is_kept_for_the_worker():
    line = command(
        arguments="{fileDistributionEndPoint}<FILE:runQgraphFile> {fileDistributionEndPoint}other",
        cmdvals={"fileDistributionEndPoint": "s3://bucket/run/"},
    )
    assert line == "/bin/run s3://bucket/run/<FILE:runQgraphFile> s3://bucket/run/other"


def test_environment_is_exported_first_and_quoted_only_when_needed():
    line = command(
        environment={
            "OMP_NUM_THREADS": "{threads}",
            "NODE": "{qgraphNodeId}",
            "FROM_ENV": "<ENV:HOME>/x",
            "SPACED": 'a b "c" $d `e` \\f',
        },
        cmdvals={"threads": 2, "qgraphNodeId": "n"},
        per_job_keys=frozenset({"qgraphNodeId"}),
    )
    assert line == (
        'export OMP_NUM_THREADS=2; export NODE="{qgraphNodeId}"; export FROM_ENV="<ENV:HOME>/x"; '
        'export SPACED="a b \\"c\\" \\$d \\`e\\` \\\\f"; /bin/run'
    )


def test_exported_value_reaches_the_variable_exactly():
    value = "a b \"c\" $d `e` \\f 'g' naïve\nline"
    line = command(executable="printenv", arguments="SPACED", environment={"SPACED": value})
    out = subprocess.run(["bash", "-c", line], capture_output=True, text=True, check=True).stdout
    assert out == value + "\n"


def test_invalid_environment_name_is_an_error():
    with pytest.raises(PandaPrepareError, match="'job1'.*'BAD-NAME'"):
        command(environment={"BAD-NAME": "1"})


def test_runner_executable_lays_out_the_five_tokens():
    files = [
        StagedFileRef("runQgraphFile", "wf.qgraph", direct_io=True),
        StagedFileRef("butlerConfig", "butler config.yaml", direct_io=False),
    ]
    executable = runner_executable("python3 decoder.py _cmd_line_ --extra", "echo hé", "s3://b/run/", files)
    words = executable.split()
    assert words[:2] == ["python3", "decoder.py"] and words[-1] == "--extra"
    hex_line, pseudo, end_point, file_list, direct_io = words[2:7]
    # Our own format starts with a guard that only our decoder removes (see test_decoder_compat).
    assert bytes.fromhex(hex_line).decode() == COMPACT_GUARD + "echo hé"
    assert file_list.startswith(f"{GUARD_FILE_KEY}:")
    file_list = file_list.split("+", 1)[1]
    assert pseudo == IN_PLACEHOLDER
    assert decode_token(end_point) == "s3://b/run/"
    pairs = [part.split(":") for part in file_list.split("+")]
    assert [(decode_token(k), decode_token(b)) for k, b in pairs] == [
        ("butlerConfig", "butler config.yaml"),
        ("runQgraphFile", "wf.qgraph"),
    ]
    assert direct_io == "runQgraphFile"


def test_runner_executable_uses_plus_for_empty_lists_and_end_point():
    executable = runner_executable("run _cmd_line_", "true", "", [])
    assert executable.split()[2:] == [IN_PLACEHOLDER, "+", f"{GUARD_FILE_KEY}:{GUARD_FILE_NAME}", "+"]


def test_published_format_carries_plain_words_and_a_stand_in_for_no_files():
    executable = runner_executable("run _cmd_line_", "true", "s3://b/run/", [], published=True)
    assert executable.split()[2:] == [IN_PLACEHOLDER, "s3://b/run/", "noFiles:noFiles", "noFiles"]
    executable = runner_executable("run _cmd_line_", "true", "", [], published=True)
    assert executable.split()[2:] == [IN_PLACEHOLDER, "+", "noFiles:noFiles", "noFiles"]
    files = [StagedFileRef("butlerConfig", "butler.yaml", direct_io=False)]
    executable = runner_executable("run _cmd_line_", "true", "file:///a/run/", files, published=True)
    assert executable.split()[3:] == ["file:///a/run/", "butlerConfig:butler.yaml", "cmdlineplaceholder"]


@pytest.mark.parametrize(
    ("end_point", "files", "named"),
    [
        ("/a b/run/", [StagedFileRef("butlerConfig", "b.yaml", direct_io=False)], "fileDistributionEndPoint"),
        ("", [StagedFileRef("butlerConfig", "b.yaml", direct_io=False)], "fileDistributionEndPoint"),
        ("/run/", [StagedFileRef("butler+Config", "b.yaml", direct_io=False)], "butler\\+Config"),
        ("/run/", [StagedFileRef("butlerConfig", "b:c.yaml", direct_io=False)], "b:c.yaml"),
        ("/run/", [StagedFileRef("butlerConfig", "=b.yaml", direct_io=False)], "=b.yaml"),
    ],
)
def test_published_format_refuses_what_it_cannot_carry(end_point, files, named):
    with pytest.raises(PandaConfigError, match=named):
        runner_executable("run _cmd_line_", "true", end_point, files, published=True)


def test_runner_command_without_marker_is_a_config_error():
    with pytest.raises(PandaConfigError, match="_cmd_line_"):
        runner_executable("python3 decoder.py", "true", "", [])


# Round trip: embed on the submit side, run the executable as a pilot does, compare the payload's argv.


@pytest.mark.parametrize("runner", [FILE_RUNNER, MODULE_RUNNER], ids=["file", "module"])
def test_hostile_arguments_reach_the_payload_exactly(runner, tmp_path):
    executable, pseudo = make_task(" ".join(shlex.quote(arg) for arg in HOSTILE_ARGS), runner=runner)
    assert dumped(pilot_run(executable, pseudo, tmp_path))["argv"] == HOSTILE_ARGS


def test_ctrl_bps_style_quoting_is_kept(tmp_path):
    arguments = '-b repo -d "visit=1 AND detector IN (1,2)" --x \'a "b"\' c\\ d \\$HOME'
    executable, pseudo = make_task(arguments)
    expected = ["-b", "repo", "-d", "visit=1 AND detector IN (1,2)", "--x", 'a "b"', "c d", "$HOME"]
    assert dumped(pilot_run(executable, pseudo, tmp_path))["argv"] == expected
    assert bash_argv(f"{DUMP} {arguments}", tmp_path) == expected


@pytest.mark.parametrize(
    ("arguments", "value", "expected"),
    [
        (
            "--qgraph-node-id {qgraphNodeId}",
            "6a1f-33,9b2c-44,ffe0",
            ["--qgraph-node-id", "6a1f-33,9b2c-44,ffe0"],
        ),
        (
            "--id {qgraphNodeId}",
            "\"it's a \\\"test\\\"\" $'tab\\there' 'naïve+é:=x' \\$HOME back\\\\slash",
            ["--id", 'it\'s a "test"', "tab\there", "naïve+é:=x", "$HOME", "back\\slash"],
        ),
        ("--id '{qgraphNodeId}'", "line1\nline2 $x `y`", ["--id", "line1\nline2 $x `y`"]),
        ('--id "{qgraphNodeId}"', "", ["--id", ""]),
        ("--id {qgraphNodeId}", "=leading+plus:colon", ["--id", "=leading+plus:colon"]),
        ("{qgraphNodeId} {other} {qgraphNodeId}x", "v", ["v", "{other}", "vx"]),
    ],
    ids=["commas", "shell-syntax", "newline-quoted", "empty", "separators", "repeated-and-foreign-braces"],
)
def test_per_job_placeholder_is_filled_like_a_local_fill(arguments, value, expected, tmp_path):
    # "{other}" is no per-job key: it stays as it is on the worker (filled by itself at prepare time).
    cmdvals = {"qgraphNodeId": value, "other": "{other}"}
    executable, pseudo = make_task(arguments, cmdvals=cmdvals, per_job=["qgraphNodeId"])
    argv = dumped(pilot_run(executable, pseudo, tmp_path))["argv"]
    assert argv == expected
    assert argv == bash_argv(f"{DUMP} {arguments.replace('{qgraphNodeId}', value)}", tmp_path)


def test_environment_exports_reach_the_payload(tmp_path):
    environment = {
        "RT_THREADS": "{threads}",
        "RT_NODE": "{qgraphNodeId}",
        "RT_FROM_ENV": "<ENV:RT_DIR>:x",
        "RT_HOSTILE": "a b \"c\" $d `e` \\f 'g' naïve",
    }
    executable, pseudo = make_task(
        "--node {qgraphNodeId}",
        cmdvals={"threads": 4, "qgraphNodeId": "n1,n2"},
        per_job=["qgraphNodeId"],
        environment=environment,
    )
    out = dumped(pilot_run(executable, pseudo, tmp_path, job_env(RT_DIR="/opt/d")))
    assert out["argv"] == ["--node", "n1,n2"]
    assert out["env"] == {
        "RT_THREADS": "4",
        "RT_NODE": "n1,n2",
        "RT_FROM_ENV": "/opt/d:x",
        "RT_HOSTILE": "a b \"c\" $d `e` \\f 'g' naïve",
        "RT_DIR": "/opt/d",
    }


@pytest.mark.parametrize("name_map", [False, True])
def test_prepared_task_executable_runs_the_job_command(tmp_path, name_map):
    from lsst.ctrl.bps.panda import PanDAService
    from support.bps_configs import make_config
    from support.dag_check import works_of

    (tmp_path / "butler.yaml").write_text("x")
    (tmp_path / "wf.qgraph").write_text("g")
    gw = GenericWorkflow("wf")
    gwexec = GenericWorkflowExec("run_me.py", str(PAYLOAD), transfer_executable=True)
    for node in ("n1", "n 2,x"):
        job = GenericWorkflowJob(
            f"job_{len(gw)}",
            label="a",
            executable=gwexec,
            arguments="-b <FILE:butlerConfig> -g {fileDistributionEndPoint}<FILE:runQgraphFile> "
            "--qgraph-node-id '{qgraphNodeId}' -d \"{dataQuery}\"",
            cmdvals={"qgraphNodeId": node, "dataQuery": "visit=1 AND detector IN (1,2)"},
            environment={"RT_NODE": "{qgraphNodeId}"},
        )
        gw.add_job(job)
        gw.add_job_inputs(
            job.name,
            [
                GenericWorkflowFile("butlerConfig", str(tmp_path / "butler.yaml"), wms_transfer=True),
                GenericWorkflowFile(
                    "runQgraphFile", str(tmp_path / "wf.qgraph"), wms_transfer=True, job_access_remote=True
                ),
            ],
        )
    # Hostile placeholder values need this plugin's own format; the compact names are optional in it.
    # (the compact names need a submit directory to write their map to).
    config = make_config(str(tmp_path), runnerCommand=FILE_RUNNER, enableCompactJobNames=True)
    result = PanDAService({}).prepare(config, gw, str(tmp_path / "submit") if name_map else None)
    stage_files(result.files_to_stage, result.end_point)
    (work,) = works_of(result.idds_workflow).values()
    assert len(work.dependency_map) == 2
    for order_id, entry in enumerate(work.dependency_map):
        assert entry["name"].startswith("@") == name_map
        job = gw.get_job(f"job_{order_id}")
        out = dumped(pilot_run(work.executable, entry["name"], tmp_path / f"work{entry['order_id']}"))
        assert out["argv"] == [
            "-b",
            "butler.yaml",
            "-g",
            f"{result.end_point}wf.qgraph",
            "--qgraph-node-id",
            job.cmdvals["qgraphNodeId"],
            "-d",
            "visit=1 AND detector IN (1,2)",
        ]
        assert out["env"] == {"RT_NODE": job.cmdvals["qgraphNodeId"]}
        assert out["files"] == ["butler.yaml", PAYLOAD.name]


def _refuse(value):
    raise ValueError(value)


@pytest.mark.parametrize("encode", [encode_token, _refuse])
def test_pseudo_input_name_one_key_shortcut_gives_the_same_name(encode):
    # keys as a tuple of one takes the one-check shortcut; as a list, the token-by-token way.
    rng = random.Random(7)
    alphabet = "aZ09_.-/=,@+: \\\"'\n\u00e9"
    tokens = ["", "=x", "@x", "x=", "ok", *HOSTILE_VALUES]
    tokens += ["".join(rng.choices(alphabet, k=rng.randint(0, 8))) for _ in range(300)]
    for job_name in tokens[:40]:
        for value in [*tokens, 42, 1.5, None]:
            for key in ("qgraphNodeId", "odd key+:"):
                values = {key: value}
                try:
                    expected = pseudo_input_name(job_name, values, encode, [key])
                except ValueError as error:
                    with pytest.raises(ValueError) as raised:
                        pseudo_input_name(job_name, values, encode, (key,))
                    assert raised.value.args == error.args
                    continue
                assert pseudo_input_name(job_name, values, encode, (key,)) == expected
