# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fixtures of the testing kit's tests: one ``panda_local`` per engine for a module."""

import pytest
from support.engine_server import running_engine


@pytest.fixture(scope="module", params=["embedded", pytest.param("idds", marks=pytest.mark.idds_engine)])
def engine_panda(request, tmp_path_factory):
    """A ``panda_local start --engine E`` on the test port, its token in the environment."""
    with running_engine(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running
