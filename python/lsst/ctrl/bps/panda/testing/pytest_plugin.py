# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fixtures for tests of code that uses this plugin: ``idds_double``, ``local_panda``, ``bps_config``.

Not registered as a ``pytest11`` entry point, so installing the package changes nothing in another
package's test run.  Enable it with ``pytest -p lsst.ctrl.bps.panda.testing.pytest_plugin``, or with
``pytest_plugins = ["lsst.ctrl.bps.panda.testing.pytest_plugin"]`` in the top ``conftest.py``.

Order matters for ``local_panda``: ``pandaclient`` reads ``PANDA_URL*`` when it is first imported.
This plugin's ``pytest_configure`` picks the local PanDA's loopback port and sets the environment
before test modules are imported; a ``conftest.py`` that imports ``pandaclient`` (or the plugin's
service) at its top runs earlier and defeats it: import them inside fixtures or tests.  The server
itself starts only when a test first asks for ``local_panda``.

- ``idds_double``: an `~lsst.ctrl.bps.panda.testing.idds_double.IddsDouble`, installed for the test
  (in process only: a ``bps`` subprocess does not see it).
- ``local_panda``: the embedded local PanDA, once per session, in a temporary state directory,
  stopped at the end; needs the ``[local]`` extra.
- ``bps_config``: a `~lsst.ctrl.bps.BpsConfig` including ``bps_local.yaml``, submitting under the
  test's ``tmp_path``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .local_panda import LocalPandaSession

__all__ = ["bps_config", "idds_double", "local_panda", "pytest_configure"]

_LOG = logging.getLogger(__name__)

_SESSION_KEY = pytest.StashKey[LocalPandaSession]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Point ``PANDA_URL*`` at the local PanDA's port before test modules import ``pandaclient``.

    Parameters
    ----------
    config : `pytest.Config`
        The run's configuration.
    """
    config.stash[_SESSION_KEY] = LocalPandaSession.reserve()


@pytest.fixture
def idds_double() -> Iterator[Any]:
    """Return an iDDS double installed where the plugin makes its PanDA client (this test only)."""
    from .idds_double import IddsDouble, install_idds_double

    with install_idds_double(IddsDouble()) as double:
        yield double


@pytest.fixture(scope="session")
def local_panda(pytestconfig: pytest.Config) -> Iterator[LocalPandaSession]:
    """Start the embedded local PanDA once for the session; stop it and remove its state at the end.

    Parameters
    ----------
    pytestconfig : `pytest.Config`
        The run's configuration (holds the session reserved by `pytest_configure`).
    """
    session = pytestconfig.stash[_SESSION_KEY]
    session.start()
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def bps_config(tmp_path: Path) -> Any:
    """Return a BpsConfig as ``bps submit`` builds it from a YAML that includes ``bps_local.yaml``.

    Parameters
    ----------
    tmp_path : `pathlib.Path`
        The test's temporary directory (holds the YAML and ``submitPath``).
    """
    import yaml
    from lsst.ctrl.bps import BpsConfig
    from lsst.ctrl.bps.bps_config import BPS_DEFAULTS, BPS_SEARCH_ORDER

    from ..prepare.settings import defaults_path

    submit_yaml = tmp_path / "kit_submit.yaml"
    values = {
        "includeConfigs": [str(Path(defaults_path()).parent / "bps_local.yaml")],
        "submitPath": str(tmp_path / "submit"),
        "operator": "tester",
    }
    submit_yaml.write_text(yaml.safe_dump(values))
    return BpsConfig(
        str(submit_yaml),
        search_order=BPS_SEARCH_ORDER,
        defaults=BPS_DEFAULTS,
        wms_service_class_fqn="lsst.ctrl.bps.panda.PanDAService",
    )
