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


@pytest.fixture(scope="module", params=ENGINES)
def server(request, tmp_path_factory):
    """One ``panda_local`` per engine for the module."""
    with running_engine(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running
