# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""Exceptions raised by the PanDA plugin."""

__all__ = ["PandaConfigError", "PandaPrepareError", "PandaStagingError"]


class PandaConfigError(ValueError):
    """A configuration value is missing or invalid (the message names the key)."""


class PandaPrepareError(ValueError):
    """A job cannot be converted into a PanDA task (the message names the job)."""


class PandaStagingError(RuntimeError):
    """Files could not be staged to ``fileDistributionEndPoint``.

    Parameters
    ----------
    message : `str`
        Summary naming every file that failed and why.
    failures : `dict` [`str`, `str`]
        Reason of the failure by name at the end point.
    staged : `tuple` [`str`, ...]
        Names verified to be at the end point despite the failures.
    """

    def __init__(self, message: str, failures: dict[str, str], staged: tuple[str, ...]) -> None:
        super().__init__(message)
        self.failures = failures
        self.staged = staged
