"""PanDAService: the ctrl_bps entry point; each verb delegates to a module below."""

from __future__ import annotations

import logging

from lsst.ctrl.bps import BaseWmsService, BpsConfig, GenericWorkflow
from lsst.daf.butler import Config
from lsst.resources import ResourcePath

from .settings import defaults_path
from .workflow import PandaBpsWmsWorkflow

__all__ = ["PanDAService"]

_LOG = logging.getLogger(__name__)


class PanDAService(BaseWmsService):
    """PanDA (through iDDS) as a ctrl_bps workflow management system.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig` or `dict`
        Configuration; `bps report|status|cancel|restart` pass an empty one.
    """

    @property
    def defaults(self) -> Config:
        # Docstring inherited from BaseWmsService.defaults.
        return Config(str(defaults_path()))

    @property
    def defaults_uri(self) -> ResourcePath:
        # Docstring inherited from BaseWmsService.defaults_uri.
        return ResourcePath(str(defaults_path()))

    def prepare(
        self, config: BpsConfig, generic_workflow: GenericWorkflow, out_prefix: str | None = None
    ) -> PandaBpsWmsWorkflow:
        # Docstring inherited from BaseWmsService.prepare.
        service_class = f"{type(self).__module__}.{type(self).__name__}"
        workflow = PandaBpsWmsWorkflow.from_generic_workflow(config, generic_workflow, out_prefix, service_class)
        if out_prefix is not None:
            workflow.write(out_prefix)
        return workflow
