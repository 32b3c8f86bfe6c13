# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Reading configuration: end points and per-label settings."""

import re

import pytest
from lsst.ctrl.bps.panda.errors import PandaConfigError
from lsst.ctrl.bps.panda.prepare import setting_types as settings_module
from lsst.ctrl.bps.panda.prepare.setting_types import _shipped_defaults
from lsst.ctrl.bps.panda.prepare.settings import (
    RESTART_PENDING_VARIABLE,
    NameMode,
    ServiceSettings,
    SettingsReader,
    read_service_settings,
    resolve_end_point,
    shipped_default,
)
from support.bps_configs import make_config
from support.paths import REPO_ROOT


def test_end_point_with_unset_variable_falls_back_to_default(monkeypatch):
    monkeypatch.delenv("LSST_RUN_TEMP_SPACE", raising=False)
    assert resolve_end_point("<ENV:LSST_RUN_TEMP_SPACE>/run", "/fallback") == "/fallback/"


def test_end_point_with_set_variable_is_expanded(monkeypatch):
    monkeypatch.setenv("LSST_RUN_TEMP_SPACE", "s3://bucket")
    assert resolve_end_point("<ENV:LSST_RUN_TEMP_SPACE>/run/", None) == "s3://bucket/run/"


def test_end_point_with_unset_variable_and_no_default_names_the_variable(monkeypatch):
    monkeypatch.delenv("LSST_RUN_TEMP_SPACE", raising=False)
    with pytest.raises(PandaConfigError, match="LSST_RUN_TEMP_SPACE"):
        resolve_end_point("${LSST_RUN_TEMP_SPACE}/run", None)


def test_workflow_settings_come_from_plugin_defaults(tmp_path):
    settings = SettingsReader(make_config(str(tmp_path))).workflow()
    assert settings.max_jobs_per_task == 10000
    assert settings.name_mode is NameMode.PLAIN and settings.max_copy_workers == 10
    assert settings.placeholder_params == ("qgraphNodeId", "qgraphId")
    assert settings.end_point == f"{tmp_path}/panda_files/"


@pytest.mark.parametrize(("key", "value"), [("maxJobsPerTask", 0), ("maxJobsPerTask", "x")])
def test_bad_numbers_name_the_key(tmp_path, key, value):
    with pytest.raises(PandaConfigError, match=key):
        SettingsReader(make_config(str(tmp_path), **{key: value})).workflow()


def test_label_settings_are_read_per_site_and_label(tmp_path):
    config = make_config(str(tmp_path), pipetask={"calib": {"processingType": "special"}})
    reader = SettingsReader(config)
    assert reader.label("calib", None).processing_type == "special"
    assert reader.label("other", None).processing_type is None
    assert reader.label("calib", None).site == "TEST"
    assert reader.label("calib", None) is reader.label("calib", None)


def test_runner_command_without_marker_is_a_config_error(tmp_path):
    from lsst.ctrl.bps.panda.prepare.command_line import runner_executable

    with pytest.raises(PandaConfigError, match="_cmd_line_"):
        runner_executable("python run.py", "echo", "", [])


def test_name_limit_keeps_within_idds_max_name_length(tmp_path, monkeypatch):
    monkeypatch.setenv("IDDS_MAX_NAME_LENGTH", "300")
    assert SettingsReader(make_config(str(tmp_path))).workflow().max_name_length == 300
    # As iDDS and the published plugin read it: when set, it is the limit, above maxNameLength too.
    monkeypatch.setenv("IDDS_MAX_NAME_LENGTH", "9000")
    assert SettingsReader(make_config(str(tmp_path))).workflow().max_name_length == 9000


def test_a_config_without_the_plugin_defaults_gets_them_from_the_shipped_yaml(tmp_path):
    import yaml
    from lsst.ctrl.bps import BpsConfig
    from lsst.ctrl.bps.panda.prepare.settings import defaults_path, shipped_default

    shipped = yaml.safe_load(defaults_path().read_text())
    config = BpsConfig({"submitPath": str(tmp_path), "runnerCommand": "run _cmd_line_"})
    reader = SettingsReader(config)
    workflow = reader.workflow()
    assert workflow.max_jobs_per_task == shipped["maxJobsPerTask"] == shipped_default("maxJobsPerTask")
    assert workflow.max_copy_workers == shipped["maxCopyWorkers"]
    assert list(workflow.placeholder_params) == shipped["placeholderParams"]
    label = reader.label("isr", None)
    assert (label.vo, label.prod_source_label, label.priority) == (
        shipped["vo"],
        shipped["prodSourceLabel"],
        shipped["priority"],
    )


PACKAGE = REPO_ROOT / "python" / "lsst" / "ctrl" / "bps" / "panda"
KEY_READS = re.compile(
    r"""\.search\(\s*["'][A-Za-z]"""  # anything.search("key", ...)
    r"""|(?:(?<![\w.])|(?<=self\.))(config|remote_build|section)(\.search\(|\.get\(|\[)"""  # config.get(key)
)
"""A read of a BpsConfig key (``re.search(r"...")`` and ``auth_config["..."]`` are not)."""


def test_no_module_but_settings_reads_a_configuration_key():
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "resources" in path.relative_to(PACKAGE).parts or path.name == "settings.py":
            continue  # resources/ links to edgenode/; settings.py is the one reader
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if KEY_READS.search(line):
                readers.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert readers == [], "read these keys in prepare/settings.py:\n" + "\n".join(readers)


def test_every_default_settings_reads_is_in_bps_panda_yaml():
    source = (PACKAGE / "prepare" / "settings.py").read_text()
    keys = set(re.findall(r"""(?:shipped_default|_search_or_default|with_default)\(\s*"([^"]+)""", source))
    keys |= set(re.findall(r"""setting_or_default\(\s*\w+,\s*"([^"]+)""", source))
    keys |= {f"remoteBuild.{key}" for key in re.findall(r"""own\(\s*"([^"]+)""", source)}
    assert {"maxJobsPerTask", "iddsServer", "remoteBuild.uploadAttempts", "priority"} <= keys
    for key in sorted(keys):
        shipped_default(key)  # KeyError names a default that is not in the file


def test_service_settings_follow_the_shipped_defaults(monkeypatch):
    defaults = dict(_shipped_defaults(), iddsServer="idds.example", resubmit=True, pandaMonitorUrl="")
    monkeypatch.setattr(settings_module, "_shipped_defaults", lambda: defaults)
    assert read_service_settings({}) == ServiceSettings("idds.example", None, True)
    assert read_service_settings({"resubmit": False}).resubmit is False


def test_service_settings_come_from_a_submission_config(tmp_path):
    config = make_config(str(tmp_path), iddsServer="https://idds:8443/idds", pandaMonitorUrl="https://mon")
    assert read_service_settings(config) == ServiceSettings("https://idds:8443/idds", "https://mon", False)
    with pytest.raises(PandaConfigError, match="resubmit must be true or false"):
        read_service_settings(make_config(str(tmp_path), resubmit="maybe"))


def test_restart_pending_timeout_comes_from_the_config_else_the_environment_else_the_default(
    monkeypatch, tmp_path
):
    monkeypatch.delenv(RESTART_PENDING_VARIABLE, raising=False)
    assert read_service_settings({}).restart_pending_timeout == 600.0
    monkeypatch.setenv(RESTART_PENDING_VARIABLE, "90")  # bps status|report get an empty config
    assert read_service_settings({}).restart_pending_timeout == 90.0
    assert read_service_settings({"restartPendingTimeout": 30}).restart_pending_timeout == 30.0
    config = make_config(str(tmp_path), restartPendingTimeout=45)
    assert read_service_settings(config).restart_pending_timeout == 45.0
    monkeypatch.setenv(RESTART_PENDING_VARIABLE, "soon")
    with pytest.raises(PandaConfigError, match="restartPendingTimeout must be a number, got 'soon'"):
        read_service_settings({})
