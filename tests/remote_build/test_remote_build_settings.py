# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Remote build settings and archive: what is read from where, and clear errors naming the key."""

import json
import os
import tarfile

import pytest
from lsst.ctrl.bps import BpsConfig
from lsst.ctrl.bps.panda.errors import PandaConfigError
from lsst.ctrl.bps.panda.prepare import setting_types as settings_module
from lsst.ctrl.bps.panda.prepare.setting_types import _shipped_defaults, shipped_default
from lsst.ctrl.bps.panda.remote_build.build_archive import (
    BUILD_CONTEXT_FILE,
    CACHE_NO_BUILD_LIMIT,
    pack_archive,
)
from lsst.ctrl.bps.panda.remote_build.build_submission import build_executable, build_workflow, read_settings
from support.paths import REPO_ROOT


def load(tmp_path, text):
    path = tmp_path / "submit.yaml"
    path.write_text(text)
    config = BpsConfig(str(path))
    return config, config.search("remoteBuild")[1]


SHIPPED = """\
includeConfigs: [{root}/config/bps_remote.yaml]
computeSite: SITE_A
requestMemory: 2048
numberOfRetries: 2
custom_lsst_setup: "echo mine;"
setupLSSTEnv: "{{custom_lsst_setup}}"
site:
  SITE_A:
    setupLSSTEnv: "source /cvmfs/stack/loadLSST.bash; setup lsst_distrib; {{custom_lsst_setup}}"
remoteBuild:
  files: [pipeline.yaml]
  queue: BUILD_QUEUE
"""


def test_the_shipped_runner_takes_the_sites_setup_and_remote_build_keys_win(tmp_path):
    config, remote_build = load(tmp_path, SHIPPED.format(root=REPO_ROOT))
    settings = read_settings(config, remote_build)
    assert settings.runner_command == (
        "source /cvmfs/stack/loadLSST.bash; setup lsst_distrib; echo mine; python3 "
        "${CTRL_BPS_PANDA_DIR}/python/lsst/ctrl/bps/panda/edgenode/build_cmd_line_decoder.py "
        "_download_cmd_line_ _build_cmd_line_ _compute_site_"
    )
    assert settings.files == ("pipeline.yaml",)
    assert (settings.rss, settings.queue, settings.site) == (4000, "BUILD_QUEUE", "SITE_A")
    assert (settings.upload_attempts, settings.upload_backoff, settings.max_attempt) == (3, 5.0, 3)
    executable = build_executable(
        settings, "https://cache/server/panda/cache/jobO.1.tar.gz", "/a/submit.yaml"
    )
    assert executable.endswith("https://cache/server/panda/cache/jobO.1.tar.gz submit.yaml SITE_A")


def test_the_build_work_is_one_signed_task_of_the_published_name_and_type(tmp_path):
    config, remote_build = load(tmp_path, SHIPPED.format(root=REPO_ROOT))
    workflow = build_workflow("run_name", read_settings(config, remote_build), "echo build")
    (work,) = workflow.template.works.values()
    assert (work.task_name, work.task_type, work.task_queue, work.task_rss) == (
        "build_task",
        "lsst_build",
        "BUILD_QUEUE",
        4000,
    )
    assert len(work.get_signature()) == 36 and workflow.name == "run_name"


@pytest.mark.parametrize(
    "remote_build, words",
    [
        ("enabled: true", "remoteBuild.runnerCommand is not set"),
        ("runnerCommand: python3 build.py _build_cmd_line_", "must contain _download_cmd_line_"),
        ("{runner}\n  uploadAttempts: 0", "remoteBuild.uploadAttempts must be at least 1"),
        ("{runner}\n  uploadBackoff: soon", "remoteBuild.uploadBackoff must be a number"),
        ("{runner}\n  requestMemory: lots", "remoteBuild.requestMemory must be an integer"),
    ],
)
def test_bad_remote_build_keys_stop_submit_naming_the_key(tmp_path, remote_build, words):
    runner = "runnerCommand: python3 build.py _download_cmd_line_ _build_cmd_line_"
    config, section = load(tmp_path, "remoteBuild:\n  " + remote_build.format(runner=runner) + "\n")
    with pytest.raises(PandaConfigError, match=words):
        read_settings(config, section)


def test_the_archive_holds_the_yaml_the_files_by_base_name_and_the_context(tmp_path):
    (tmp_path / "in").mkdir()
    submit = tmp_path / "in" / "submit.yaml"
    submit.write_text("a: 1\n")
    (tmp_path / "in" / "pipeline.yaml").write_text("b: 2\n")
    archive = pack_archive(
        str(submit), (str(tmp_path / "in" / "pipeline.yaml"),), tmp_path, {"output_run": "u/x"}
    )
    assert archive.name.startswith("jobO.") and archive.name.endswith(".tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == [BUILD_CONTEXT_FILE, "pipeline.yaml", "submit.yaml"]
        assert json.load(tar.extractfile(BUILD_CONTEXT_FILE)) == {"output_run": "u/x"}


def test_archive_problems_name_the_file_and_submit_nothing(tmp_path):
    submit = tmp_path / "submit.yaml"
    submit.write_text("a: 1\n")
    with pytest.raises(PandaConfigError, match=r"remoteBuild.files entry '.*missing.yaml' does not exist"):
        pack_archive(str(submit), (str(tmp_path / "missing.yaml"),), tmp_path / "out")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "submit.yaml").write_text("c: 3\n")
    with pytest.raises(PandaConfigError, match="same base name"):
        pack_archive(str(submit), (str(tmp_path / "other" / "submit.yaml"),), tmp_path / "out")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(CACHE_NO_BUILD_LIMIT + 1024))
    with pytest.raises(PandaConfigError, match="above the PanDA cache's 10 MB limit"):
        pack_archive(str(submit), (str(big),), tmp_path / "out")


RUNNER = "runnerCommand: python3 build.py _download_cmd_line_ _build_cmd_line_"


def test_build_only_keys_default_to_bps_panda_yaml_not_to_code(tmp_path, monkeypatch):
    shipped = _shipped_defaults()
    changed = dict(shipped, remoteBuild=dict(shipped["remoteBuild"], uploadAttempts=7, files=["x.yaml"]))
    monkeypatch.setattr(settings_module, "_shipped_defaults", lambda: changed)
    config, section = load(tmp_path, f"requestMemory: 100\nremoteBuild:\n  {RUNNER}\n")
    settings = read_settings(config, section)
    assert (settings.upload_attempts, settings.files, settings.upload_backoff) == (7, ("x.yaml",), 5.0)


def test_keys_shared_with_the_jobs_fall_back_to_the_workflows_defaults(tmp_path):
    config, section = load(
        tmp_path, f"requestMemory: 100\nvo: mine\nremoteBuild:\n  {RUNNER}\n  priority: 7\n"
    )
    settings = read_settings(config, section)
    assert (settings.priority, settings.vo, settings.prod_source_label, settings.cloud) == (
        7,
        "mine",
        shipped_default("prodSourceLabel"),
        shipped_default("computeCloud"),
    )
    assert (settings.rss, settings.max_attempt, settings.rss_max, settings.memory_multiplier) == (
        100,
        1,
        None,
        None,
    )


def test_a_bad_value_names_the_key_where_it_was_found(tmp_path):
    config, section = load(tmp_path, f"requestMemory: lots\nremoteBuild:\n  {RUNNER}\n")
    with pytest.raises(PandaConfigError, match=r"^requestMemory must be an integer, got 'lots'"):
        read_settings(config, section)
    config, section = load(tmp_path, f"remoteBuild:\n  {RUNNER}\n")
    with pytest.raises(PandaConfigError, match="requestMemory is not set for the remote build job"):
        read_settings(config, section)
