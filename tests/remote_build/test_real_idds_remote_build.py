# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Contract tests of the remote build against the real PanDA server and the real iDDS REST app.

Every call the remote build adds goes through the released server code: the cache upload
(``Client.putFile`` → the PanDA server's ``upload_cache_file``), ``submit_build``,
``get_requests`` of a build request, and ``update_build_request`` with the workflow a build job
prepares (and iDDS's refusals).  No iDDS daemons run, so a build request stays New until a
workflow is handed back, then Built.
"""

import re
import tarfile

import pytest
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.remote_build.build_submission import build_workflow, hand_back
from lsst.ctrl.bps.panda.wms.idds_port import IddsCallError, IddsPort
from support.bps_configs import make_config, remote_build_settings
from support.contract_runs import SITE, bps, shell_workflow
from support.paths import REPO_ROOT

# The session's real relay and iDDS (conftest's real_servers) start once, on the worker of this group.
pytestmark = [
    pytest.mark.real_idds,
    pytest.mark.real_servers,
    pytest.mark.xdist_group("real_relay"),
    pytest.mark.timeout(300),
]

SUBMIT_YAML = """\
includeConfigs:
  - ${{CTRL_BPS_PANDA_DIR}}/config/bps_remote.yaml
wmsServiceClass: lsst.ctrl.bps.panda.PanDAService
computeSite: TEST_SITE
pipelineYaml: pipeline.yaml
submitPath: {work}/submit/{{outputRun}}
remoteBuild:
  files: [{work}/pipeline.yaml]
  uploadBackoff: 0.1
payload:
  payloadName: remote
  butlerConfig: {work}/repo
  inCollection: inputs
  output: "u/{{operator}}/{{payloadName}}"
"""


def test_bps_submit_puts_the_archive_in_the_real_cache_and_makes_a_build_request(real_panda, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "pipeline.yaml").write_text("description: built at the site\n")
    (work / "remote.yaml").write_text(SUBMIT_YAML.format(work=work))
    result = bps(
        real_panda, "submit", "remote.yaml", cwd=work, extra_env={"CTRL_BPS_PANDA_DIR": str(REPO_ROOT)}
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    run_id = re.search(r"^Run Id: (\d+)$", result.stdout, re.M).group(1)

    # The real PanDA server kept the archive: the submit YAML, the pipeline and the build context.
    (archive,) = (real_panda.root / "pandahome" / "log" / "pandacache").glob("jobO.*.tar.gz")
    assert archive.name in output
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["bps_remote_build.json", "pipeline.yaml", "remote.yaml"]

    # The real iDDS holds a build request, New until a build job hands a workflow back.
    (record,) = IddsPort().get_requests(request_id=run_id)
    assert record["status"].name == "New" and record["name"] == re.search(r"Run Name: (\S+)", output).group(1)
    (report,), message = PanDAService({}).report(run_id)
    assert message == "" and report.state == WmsStates.RUNNING and report.total_number_jobs == 0
    status = bps(real_panda, "status", "--id", run_id)
    assert status.returncode == WmsStates.RUNNING.value, status.stdout + status.stderr


def test_a_prepared_workflow_is_handed_to_the_real_build_request_and_refusals_are_idds_own(
    real_panda, tmp_path
):
    port = IddsPort(attempts=1)
    build = build_workflow("remote_contract", remote_build_settings(), "echo build")
    (work,) = build.template.works.values()
    request_id = port.submit_build(build)
    assert request_id > 0 and port.get_requests(request_id)[0]["status"].name == "New"

    # What the build decoder does on the worker: prepare, stage, hand back.
    submit_dir = tmp_path / "submit" / "remote_contract"
    config = make_config(str(submit_dir), site=SITE)
    prepared = PanDAService(config).prepare(config, shell_workflow("remote_contract"), str(submit_dir))
    with pytest.raises(IddsCallError, match=r"has a different signature\(wrong != "):
        hand_back(prepared, request_id, "wrong", port)
    assert hand_back(prepared, request_id, work.get_signature(), port) == {"request_id": str(request_id)}
    assert port.get_requests(request_id)[0]["status"].name == "Built"
    assert PanDAService({}).get_status(str(request_id)) == (WmsStates.RUNNING, "")

    with pytest.raises(IddsCallError, match=r"(?s)Core exception.*'build_workflow'"):
        port.update_build_request(request_id, work.get_signature(), prepared.idds_workflow)
    with pytest.raises(IddsCallError, match="Request 987654 is not found"):
        port.update_build_request(987654, work.get_signature(), prepared.idds_workflow)
