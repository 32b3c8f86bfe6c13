"""PanDA plugin for the Rubin Observatory Batch Production Service."""

from .service import PanDAService
from .workflow import PandaBpsWmsWorkflow

__all__ = ["PanDAService", "PandaBpsWmsWorkflow"]
