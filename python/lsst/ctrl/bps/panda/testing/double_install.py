# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""Where the iDDS double is installed: every place the plugin makes or gets its PanDA client.

`install_idds_double` (also importable from `~lsst.ctrl.bps.panda.testing.idds_double`) replaces
those names for the duration of a ``with`` block, in this process only.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .idds_double import IddsDouble

__all__ = ["INSTALL_POINTS", "install_idds_double"]

_LOG = logging.getLogger(__name__)

INSTALL_POINTS = (
    # (module, name, the double's view): where the plugin makes or gets its PanDA client
    ("lsst.ctrl.bps.panda.wms.idds_port", "new_idds_client", "decoded"),
    ("lsst.ctrl.bps.panda.wms.idds_port", "RelayClient", "decoded"),
    ("lsst.ctrl.bps.panda.panda_service", "get_idds_client", "decoded"),
    ("lsst.ctrl.bps.panda.utils", "get_idds_client", "plain"),
)
"""Names replaced by `install_idds_double`, where the module has them (issue 23 adds the last three)."""


@contextlib.contextmanager
def install_idds_double(double: IddsDouble | None = None) -> Iterator[IddsDouble]:
    """Make the plugin, in this process, get ``double`` wherever it would make a PanDA iDDS client.

    Covers the place the plugin makes the client (``wms.idds_port``) and the published
    ``get_idds_client`` of ``panda_service`` and ``utils`` (the latter's client answers in plain
    JSON, as published).  Services and ports created inside the block use the double; one created
    before keeps the client it already made.  **In process only**: a ``bps`` command run as a
    subprocess does not see the double.

    Parameters
    ----------
    double : `IddsDouble`, optional
        The double; a new one by default.

    Yields
    ------
    double : `IddsDouble`
        The installed double.
    """
    from .idds_double import IddsDouble

    double = double or IddsDouble()
    views = {"decoded": double, "plain": double.plain_json()}
    replaced: list[tuple[Any, str, Any]] = []
    for module_name, attribute, view in INSTALL_POINTS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            replaced.append((module, attribute, getattr(module, attribute)))
            setattr(module, attribute, _factory(views[view]))
    try:
        yield double
    finally:
        for module, attribute, original in reversed(replaced):
            setattr(module, attribute, original)


def _factory(client: IddsDouble) -> Any:
    def make_client(*args: Any, **kwargs: Any) -> IddsDouble:
        return client

    return make_client
