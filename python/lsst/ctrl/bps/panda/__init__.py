# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""PanDA plugin for the Rubin Observatory Batch Production Service.

The names below are imported on first use (PEP 562), so importing a submodule
(the worker-side decoder, the local PanDA's CLI) never loads the service, the
PanDA client or iDDS.

Layers, top to bottom; a module imports only from its own layer and the ones
below (``make lint`` checks this with import-linter, see ``pyproject.toml``):

`testing`
    The kit for tests of code that uses the plugin (iDDS double, local PanDA
    fixture, the verdicts a campaign manager reaches on a run); the one part of
    the plugin that may import `local`.
`panda_service`
    `PanDAService`, the `~lsst.ctrl.bps.BaseWmsService` facade; beside it the
    published 30.x module paths, thin adapters over the layers below: `utils`,
    `constants`, `version`, `cmd_line_embedder`, `panda_auth_utils`,
    `panda_auth_drivers`, `panda_exceptions` and `cli` (``cli.panda_auth``,
    ``cli.cmd``).
`notebook`, `remote_build`, `auth`
    `PandaRun` for notebooks; the remote build; ``panda_auth``.
`wms`
    Submit, stage and report through the one iDDS port.
`prepare`
    GenericWorkflow to iDDS workflow.
shared words
    `errors`, `states`, `task_names`, `identity`, `atomic_file`, `gc_pause`,
    `local_panda_record` (where a running local PanDA says it serves), and
    `edgenode.job_contract`: no server, no plugin layer.

`version` holds ``__version__``, the one place the version is written.
`edgenode` holds the worker-side decoders (standard library, EUPS paths kept);
`local` is the local PanDA, which the plugin never imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .notebook.panda_run import PandaRun, submit
    from .panda_service import PanDAService
    from .prepare.prepared_workflow import PandaBpsWmsWorkflow

__all__ = ["PanDAService", "PandaBpsWmsWorkflow", "PandaRun", "__version__", "submit"]

_LAZY = {
    "PanDAService": ".panda_service",
    "PandaBpsWmsWorkflow": ".prepare.prepared_workflow",
    "PandaRun": ".notebook.panda_run",
    "submit": ".notebook.panda_run",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
