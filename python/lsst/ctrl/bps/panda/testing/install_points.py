# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Where the iDDS double is installed: every place the plugin makes or gets its PanDA client.

`~lsst.ctrl.bps.panda.testing.idds_double.install_idds_double` replaces these names with the double
for the duration of a ``with`` block, in this process only.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterator
from typing import Any

__all__ = ["INSTALL_POINTS", "replacing_clients"]

_LOG = logging.getLogger(__name__)

INSTALL_POINTS = (
    # (module, name, the double's view): where the plugin makes or gets its PanDA client
    ("lsst.ctrl.bps.panda.wms.idds_port", "RelayClient", "decoded"),
    ("lsst.ctrl.bps.panda.panda_service", "get_idds_client", "decoded"),
    ("lsst.ctrl.bps.panda.utils", "get_idds_client", "plain"),
)
"""Names replaced by `install_idds_double`: the port's client class and the published ``get_idds_client``."""


@contextlib.contextmanager
def replacing_clients(decoded: Any, plain: Any) -> Iterator[None]:
    """Make every install point return ``decoded`` (or ``plain``, as it says) until the block ends.

    Parameters
    ----------
    decoded : `typing.Any`
        The client to return where the plugin decodes iDDS-JSON replies.
    plain : `typing.Any`
        The client to return where the published plugin read plain JSON (``utils.get_idds_client``).

    Yields
    ------
    None
        Nothing; the names are restored when the block ends.
    """
    views = {"decoded": decoded, "plain": plain}
    replaced: list[tuple[Any, str, Any]] = []
    for module_name, attribute, view in INSTALL_POINTS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            replaced.append((module, attribute, getattr(module, attribute)))
            setattr(module, attribute, _factory(views[view]))
            _LOG.debug("%s.%s returns the iDDS double", module_name, attribute)
    try:
        yield
    finally:
        for module, attribute, original in reversed(replaced):
            setattr(module, attribute, original)


def _factory(client: Any) -> Any:
    def make_client(*args: Any, **kwargs: Any) -> Any:
        return client

    return make_client
