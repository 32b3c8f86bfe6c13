# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published token errors are this package's, each carrying ``panda_auth``'s exit code."""

import pytest
from lsst.ctrl.bps.panda import errors, panda_exceptions
from lsst.ctrl.bps.panda.auth.oidc_token import AuthExit


def test_the_six_published_classes_are_those_of_errors():
    assert sorted(panda_exceptions.__all__) == [
        "AuthConfigError", "PandaAuthError", "TokenExpiredError", "TokenNotFoundError",
        "TokenRefreshError", "TokenTooEarlyError",
    ]  # fmt: skip
    for name in panda_exceptions.__all__:
        cls = getattr(panda_exceptions, name)
        assert cls is getattr(errors, name)
        assert issubclass(cls, panda_exceptions.PandaAuthError)
        assert issubclass(cls, errors.AuthError)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (panda_exceptions.TokenNotFoundError, AuthExit.NO_TOKEN),
        (panda_exceptions.TokenExpiredError, AuthExit.EXPIRED),
        (panda_exceptions.AuthConfigError, AuthExit.WRONG_VO),
        (panda_exceptions.TokenRefreshError, AuthExit.REFUSED),
        (panda_exceptions.PandaAuthError, AuthExit.USAGE),
    ],
)
def test_built_with_a_message_alone_as_published_each_has_its_exit_code(cls, code):
    error = cls("the message")
    assert (str(error), error.message, error.code) == ("the message", "the message", code)
