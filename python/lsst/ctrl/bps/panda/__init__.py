# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""PanDA plugin for the Rubin Observatory Batch Production Service.

The names below are imported on first use (PEP 562), so importing a submodule
(the worker-side decoder, the local PanDA's CLI) never loads the service, the
PanDA client or iDDS.

Layers, top to bottom; a module imports only from its own layer and the ones
below (``make lint`` checks this with import-linter, see ``pyproject.toml``):

`panda_service`
    `PanDAService`, the `~lsst.ctrl.bps.BaseWmsService` facade; the published
    module paths come here as thin adapters.
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

`edgenode` holds the worker-side decoders (standard library, EUPS paths kept);
`local` is the local PanDA, which the plugin never imports.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .notebook.panda_run import PandaRun, submit
    from .panda_service import PanDAService
    from .prepare.prepared_workflow import PandaBpsWmsWorkflow

__all__ = ["PanDAService", "PandaBpsWmsWorkflow", "PandaRun", "__version__", "submit"]

try:
    __version__ = version("lsst-ctrl-bps-panda")
except PackageNotFoundError:  # an EUPS setup of a checkout, not pip-installed
    __version__ = "unknown"

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
