# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fixtures of the local PanDA's tests: one ``panda_local`` per engine for a module."""

import pytest
from support.engine_server import running_engine

ENGINES = [
    "embedded",
    pytest.param("idds", marks=pytest.mark.idds_engine),
    pytest.param("panda", marks=pytest.mark.real_panda),
]
"""The engines of the shared suites (``panda``: the real panda-server + JEDI, ``make test-real-panda``)."""


def pytest_collection_modifyitems(config, items):
    """Deselect the cases of an engine a test's ``engines`` marker does not name.

    A behaviour an engine does not have (listed in tests/data/real_panda/README.md) is not a skip:
    the case is not run at all, and pytest counts it as deselected.
    """
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("engines")
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("server") if callspec is not None else None
        (dropped if marker is not None and engine is not None and engine not in marker.args else kept).append(
            item
        )
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="module", params=ENGINES)
def server(request, tmp_path_factory):
    """One ``panda_local`` per engine for the module."""
    with running_engine(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running
