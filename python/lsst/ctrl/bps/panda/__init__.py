"""PanDA plugin for the Rubin Observatory Batch Production Service."""

from .run import PandaRun, submit
from .service import PanDAService
from .workflow import PandaBpsWmsWorkflow

__all__ = ["PanDAService", "PandaBpsWmsWorkflow", "PandaRun", "submit"]
