"""The package imports from a checkout and exposes the plugin defaults."""

from lsst.ctrl.bps.panda import PandaBpsWmsWorkflow, PanDAService
from lsst.ctrl.bps.panda.settings import defaults_path


def test_service_exposes_plugin_defaults():
    service = PanDAService({})
    assert service.defaults["wmsServiceClass"] == "lsst.ctrl.bps.panda.PanDAService"
    assert service.defaults_uri.ospath == str(defaults_path())
    assert issubclass(PandaBpsWmsWorkflow, object)
