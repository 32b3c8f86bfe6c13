"""The plugin's YAML configuration, installed as package data of ``lsst.ctrl.bps.panda.config``."""
