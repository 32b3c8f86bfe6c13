"""Exceptions raised by the PanDA plugin."""

__all__ = ["PandaConfigError", "PandaPrepareError"]


class PandaConfigError(ValueError):
    """A configuration value is missing or invalid (the message names the key)."""


class PandaPrepareError(ValueError):
    """A job cannot be converted into a PanDA task (the message names the job)."""
