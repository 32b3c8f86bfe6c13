# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The package: lazy imports, its defaults, its wheel, and the plugin without the local extra."""

import json
import os
import subprocess
import sys

import pytest
from lsst.ctrl.bps import BaseWmsService, BaseWmsWorkflow
from lsst.ctrl.bps.panda.prepare.settings import defaults_path
from support.paths import REPO_ROOT

pytestmark = pytest.mark.real_servers

# Runs a snippet where flask and waitress cannot be imported, as after `pip install` without [local].
BLOCK_EXTRA = """
import sys
sys.modules.update(flask=None, waitress=None)  # import raises ModuleNotFoundError; find_spec is None
"""


def run_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        cwd=REPO_ROOT / "tests",
    )


def test_service_exposes_plugin_defaults():
    from lsst.ctrl.bps.panda import PandaBpsWmsWorkflow, PanDAService

    service = PanDAService({})
    assert isinstance(service, BaseWmsService)
    assert service.defaults["wmsServiceClass"] == "lsst.ctrl.bps.panda.PanDAService"
    assert service.defaults_uri.ospath == str(defaults_path())
    assert issubclass(PandaBpsWmsWorkflow, BaseWmsWorkflow)


def test_importing_the_package_or_the_decoder_loads_no_service():
    result = run_python(
        "import sys, json, lsst.ctrl.bps.panda, lsst.ctrl.bps.panda.edgenode.cmd_line_decoder\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('lsst.ctrl.bps.panda', 'idds', "
        "'pandaclient', 'flask')))))"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        "lsst.ctrl.bps.panda",
        "lsst.ctrl.bps.panda.edgenode",
        "lsst.ctrl.bps.panda.edgenode.cmd_line_decoder",
        "lsst.ctrl.bps.panda.edgenode.job_contract",  # the decoder's standard-library parts
        "lsst.ctrl.bps.panda.edgenode.staged_files",
        "lsst.ctrl.bps.panda.version",  # __version__, written there once
    ]


def test_the_build_decoder_file_imports_only_the_standard_library_before_the_build():
    # As remoteBuild.runnerCommand runs it: a file; lsst.resources, ctrl_bps and the plugin come later.
    decoder = REPO_ROOT / "python/lsst/ctrl/bps/panda/edgenode/build_cmd_line_decoder.py"
    result = run_python(
        f"import sys, json, runpy\nruntime = runpy.run_path({str(decoder)!r}, run_name='loaded')\n"
        "assert callable(runtime['main'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('lsst', 'idds', 'pandaclient')))))"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_panda_local_without_the_extra_says_how_to_get_it():
    result = run_python(
        BLOCK_EXTRA + "from lsst.ctrl.bps.panda.local.cli import main\nsys.exit(main(['status']))"
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "panda_local: the local PanDA needs the 'local' extra (flask, waitress missing): "
        "pip install 'lsst-ctrl-bps-panda[local]'"
    ]


def test_plugin_prepares_submits_and_reports_without_the_local_extra(local_panda, tmp_path):
    # The local PanDA runs here (it needs the extra); the plugin runs where flask cannot be imported.
    code = (
        BLOCK_EXTRA
        + f"""
import logging, time
logging.basicConfig(level=logging.WARNING)
from support.bps_configs import make_config
from support.synthetic import make_drp_workflow
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.prepare.prepared_workflow import PandaBpsWmsWorkflow
assert sys.modules["flask"] is None and sys.modules["waitress"] is None
submit = {str(tmp_path / "submit")!r}
gw = make_drp_workflow(30, detectors=2, patches=1, submit_dir=submit, final=False)
config = make_config(submit, site={{"memoryClasses": [], "runnerCommand": "true _cmd_line_"}})
service = PanDAService(config)
import os
os.makedirs(submit, exist_ok=True)
open(submit + "/drp.qg", "w").write("qg")
prepared = service.prepare(config, gw, submit)
service.submit(prepared)
(report,), message = service.report(prepared.run_id)
assert message == "", message
print("REPORT", prepared.run_id, sorted(report.job_summary), report.total_number_jobs)
assert sys.modules["flask"] is None and sys.modules["waitress"] is None
"""
    )
    result = run_python(code, PANDA_AUTH_ID_TOKEN=local_panda.token)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("REPORT"))
    labels = ["assembleCoadd", "calibrate", "forcedPhot", "isr", "makeWarp", "pipetaskInit"]
    assert line == f"REPORT 1 {labels} 26"


def test_every_source_file_carries_the_dual_license_header():
    # tools/license_headers.py is the one place that knows the header; --check lists what differs.
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "license_headers.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout[-3000:] + done.stderr[-3000:]
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    try:
        import license_headers
    finally:
        sys.path.remove(str(REPO_ROOT / "tools"))
    sources = license_headers.source_files()
    assert len(sources) > 200 and REPO_ROOT / "bin" / "panda_auth" in sources
    assert license_headers.LICENSE_EXPRESSION == "BSD-3-Clause OR GPL-3.0-or-later"


def test_the_license_files_ship_both_standard_texts():
    license_text = (REPO_ROOT / "LICENSE").read_text()
    assert "BSD-3-Clause OR GPL-3.0-or-later" in license_text
    bsd = (REPO_ROOT / "bsd_license.txt").read_text()
    assert "Redistribution and use in source and binary forms" in bsd and "see COPYRIGHT" in bsd
    gpl = (REPO_ROOT / "gpl-v3.0.txt").read_text()
    assert gpl.lstrip().startswith("GNU GENERAL PUBLIC LICENSE") and "Version 3, 29 June 2007" in gpl
    assert "END OF TERMS AND CONDITIONS" in gpl and len(gpl.splitlines()) == 674


def test_the_wheel_needs_flask_only_for_the_local_extra_and_ships_the_eups_layout(tmp_path):
    import zipfile

    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("lsst_ctrl_bps_panda-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    # The version of version.py, and Rubin's dual licence with both texts (and COPYRIGHT) shipped.
    from lsst.ctrl.bps.panda.version import __version__

    fields = [line.partition(": ") for line in metadata.splitlines()]
    assert ("Version", ": ", __version__) in fields
    assert ("License-Expression", ": ", "BSD-3-Clause OR GPL-3.0-or-later") in fields
    license_files = {value for key, _, value in fields if key == "License-File"}
    assert license_files == {"COPYRIGHT", "LICENSE", "bsd_license.txt", "gpl-v3.0.txt"}
    assert {n.rpartition("/")[2] for n in names if ".dist-info/licenses/" in n} == license_files
    assert "lsst/ctrl/bps/panda/conf_example/test_usdf.yaml" in names
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    web = [line for line in requires if line.split()[1].split(";")[0].lower() in ("flask", "waitress")]
    assert web and all('extra == "local"' in line for line in web)
    resources = "lsst/ctrl/bps/panda/resources/"
    assert f"{resources}python/lsst/ctrl/bps/panda/edgenode/cmd_line_decoder.py" in names
    assert f"{resources}python/lsst/ctrl/bps/panda/edgenode/build_cmd_line_decoder.py" in names
    assert f"{resources}config/bps_panda.yaml" in names and f"{resources}config/bps_local.yaml" in names
    kit = REPO_ROOT / "python/lsst/ctrl/bps/panda/testing/envelopes"  # the testing kit replies with these
    shipped = {f"lsst/ctrl/bps/panda/testing/envelopes/{p.relative_to(kit)}" for p in kit.rglob("*.json")}
    assert shipped and shipped < names
