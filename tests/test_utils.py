# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published ``utils`` names behave as code written against 30.x expects."""

import pytest
from idds.workflowv2.workflow import Workflow
from lsst.ctrl.bps import BpsConfig, WmsStates
from lsst.ctrl.bps.panda import utils
from lsst.ctrl.bps.panda.edgenode.cmd_line_decoder import _parse_invocation
from lsst.ctrl.bps.panda.errors import IddsError
from support.bps_configs import make_config
from support.service_runs import LOCAL_SITE, shell_workflow, submit, wait_for


def test_copy_files_for_distribution_names_each_target_by_its_sources_base_name(tmp_path):
    (tmp_path / "src").mkdir()
    single = tmp_path / "src" / "final_job.bash"
    single.write_text("echo done\n")
    folder = tmp_path / "src" / "butler_config"
    (folder / "sub").mkdir(parents=True)
    (folder / "butler.yaml").write_text("a: 1\n")
    (folder / "sub" / "x.txt").write_text("x\n")
    end_point = tmp_path / "end_point"

    utils.copy_files_for_distribution(
        {"finalJob": str(single), "butlerConfig": str(folder)}, f"file://{end_point}/", 2
    )

    assert (end_point / "final_job.bash").read_text() == "echo done\n"
    assert (end_point / "butler_config" / "butler.yaml").read_text() == "a: 1\n"
    assert (end_point / "butler_config" / "sub" / "x.txt").read_text() == "x\n"
    assert not (end_point / "finalJob").exists()


def test_a_failed_copy_is_a_runtime_error_naming_the_file(tmp_path):
    with pytest.raises(RuntimeError, match="missing.txt"):
        utils.copy_files_for_distribution({"k": str(tmp_path / "missing.txt")}, str(tmp_path / "out"), 1)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ((0, [True, [{"request_id": 7}]]), (True, [{"request_id": 7}], None)),
        ((0, [True, {}]), (True, {}, None)),
    ],
)
def test_get_idds_result_returns_the_result_of_a_successful_reply(reply, expected):
    assert utils.get_idds_result(reply) == expected


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        ((255, "connection refused"), "connection refused"),
        ((0, [False, "relay down"]), "relay down"),
        ((0, [True, [False, "no such workflow"]]), "no such workflow"),
        ((0, [True, "Authentication no permission for user x"]), "no permission"),
        ("not a reply", "unexpected reply"),
    ],
)
def test_get_idds_result_says_why_a_reply_failed(reply, said):
    ok, result, error = utils.get_idds_result(reply)
    assert (ok, result) == (False, None)
    assert said in error


def test_idds_call_with_check_returns_the_reply_or_raises_a_runtime_error():
    calls = []

    def get_requests(**kwargs):
        calls.append(kwargs)
        return (0, [True, []]) if kwargs["request_id"] == "1" else (0, [True, [False, "refused"]])

    assert utils.idds_call_with_check(get_requests, func_name="get_requests", request_id="1") == (
        0,
        [True, []],
    )
    with pytest.raises(RuntimeError, match="refused") as raised:
        utils.idds_call_with_check(get_requests, func_name="get_requests", request_id="2", with_detail=True)
    assert isinstance(raised.value, IddsError)
    assert calls[-1] == {"request_id": "2", "with_detail": True}


def test_convert_exec_string_to_hex_is_what_the_decoder_reads():
    line = "pipetask run -b {butlerConfig} --note 'é'"
    assert bytes.fromhex(utils.convert_exec_string_to_hex(line)).decode() == line


def test_add_decoder_prefix_writes_the_published_decoders_arguments():
    config = BpsConfig({"runnerCommand": "setup;\n python decoder.py _cmd_line_; exit"})
    files = ({"butlerConfig": "/repo/butler.yaml", "qgraphFile": "/s/run.qgraph"}, ["butlerConfig"])

    executable = utils.add_decoder_prefix(config, "pipetask run", "s3://bucket/run/", files)

    prefix, _, rest = executable.partition("decoder.py ")
    assert prefix == "setup; python "
    arguments = rest.removesuffix("; exit").split()
    assert arguments[1] == "${IN/L}"
    command, _, end_point, by_key, direct_io = _parse_invocation(arguments)
    assert (command, end_point) == ("pipetask run", "s3://bucket/run/")
    assert by_key == {"butlerConfig": "butler.yaml", "qgraphFile": "run.qgraph"}
    assert direct_io == {"butlerConfig"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("u_jdoe_drp_20260101T000000Z_03_isr_01", "isr_01"),
        ("'wf_12_calibrateImage_02'", "calibrateImage_02"),
        ("no_task_number", "no_task_number"),
    ],
)
def test_extract_taskname_keeps_the_label_and_chunk(name, expected):
    assert utils.extract_taskname(name) == expected


def test_aggregate_by_basename_adds_up_the_chunks_of_a_label():
    jobs = {
        "isr_01": {WmsStates.SUCCEEDED: 3, WmsStates.FAILED: 1},
        "isr_02": {WmsStates.SUCCEEDED: 2},
        "finalJob": {WmsStates.RUNNING: 1},
    }
    exits = {"isr_01": [1], "isr_02": [137]}

    by_label, codes, summary = utils.aggregate_by_basename(jobs, exits, "isr_01:4;isr_02:2;finalJob:1;bad")

    assert by_label["isr"][WmsStates.SUCCEEDED] == 5
    assert by_label["isr"][WmsStates.FAILED] == 1
    assert set(by_label["isr"]) == set(WmsStates)
    assert codes == {"isr": [1, 137]}
    assert summary == "isr:6;finalJob:1"


def test_add_idds_work_adds_every_task_and_the_final_job_in_one_pass(tmp_path):
    gw = shell_workflow("wf", {"a1": ("a", "true"), "b1": ("b", "true")}, parents={"b1": ["a1"]})
    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE)
    target = Workflow(name="wf")

    files, sinks, task_count = utils.add_idds_work(config, gw, target)

    names = sorted(work.get_work_name() for work in target.template.works.values())
    assert task_count == len(names) == 2
    assert [work.get_work_name() for work in sinks] == [n for n in names if "_b_" in n]
    assert files == {}
    assert utils.add_final_idds_work(config, gw, target, sinks, task_count, 1) == {}


@pytest.mark.real_servers
def test_get_idds_client_reads_a_request_of_the_local_panda_as_published(local_panda, tmp_path):
    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE)
    service, prepared = submit(config, shell_workflow("wf", {"j": ("a", "exit 3")}), tmp_path / "submit")
    wait_for(service, prepared.run_id)
    client = utils.get_idds_client({})

    ok, records, error = utils.get_idds_result(
        client.get_requests(request_id=prepared.run_id, with_detail=False)
    )
    assert (ok, error) == (True, None)
    # As published: iDDS objects come as plain JSON, not rebuilt enums.
    assert records[0]["status"]["attributes"]["_name_"] in ("Failed", "SubFinished")
    ok, contents, _ = utils.get_idds_result(client.get_contents_output_ext(request_id=prepared.run_id))
    codes = [job.get("trans_exit_code") for jobs in contents.values() for job in jobs]
    assert ok and 3 in codes
