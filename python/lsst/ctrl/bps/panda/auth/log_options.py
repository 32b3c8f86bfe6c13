# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The global logging options of ``panda_auth``, as the published command takes them.

``--log-level [COMPONENT=]LEVEL``, ``--long-log``, ``--log-file PATH``, ``--log-tty/--no-log-tty``
and ``--log-label KEY=VALUE`` mean what they mean for ``butler`` and ``bps`` (daf_butler's
command-line options): values may be repeated or comma-separated; a level without a component
sets the command's own logger and ``lsst``; ``.=LEVEL`` sets the root logger; a file ending in
``.json`` gets JSON records.  The records' formats are daf_butler's own (imported only when an
option asks for them, so a plain ``panda_auth status`` stays quick); without ``--long-log`` the
terminal shows each message alone, as ``panda_auth`` always has.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import AuthError
from .oidc_token import AuthExit

__all__ = ["LOG_LEVELS", "add_log_options", "configured_logging", "parse_levels"]

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "VERBOSE", "DEBUG", "TRACE")
"""Levels ``--log-level`` accepts (any case); VERBOSE and TRACE are ``lsst.utils.logging``'s."""

_DEFAULT_COMPONENTS = ("lsst",)
"""Loggers a level without a component sets, besides the command's own (as for ``butler``)."""


def _items(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_levels(value: str) -> list[tuple[str | None, str]]:
    """Return the ``(component, LEVEL)`` pairs of one ``--log-level`` value.

    Parameters
    ----------
    value : `str`
        ``LEVEL`` or ``COMPONENT=LEVEL``, or several of them comma-separated; a component of `None`
        means the default loggers, ``"."`` the root logger.

    Raises
    ------
    argparse.ArgumentTypeError
        Raised naming the value and the accepted levels if a level is not one of `LOG_LEVELS`.
    """
    levels: list[tuple[str | None, str]] = []
    for item in _items(value):
        component, _, level = item.rpartition("=")
        if level.upper() not in LOG_LEVELS:
            raise argparse.ArgumentTypeError(f"{item!r}: the level must be one of {'|'.join(LOG_LEVELS)}")
        levels.append((component or None, level.upper()))
    return levels


def _labels(value: str) -> list[tuple[str, str]]:
    labels = []
    for item in _items(value):
        key, separator, label = item.partition("=")
        if not separator or not key:
            raise argparse.ArgumentTypeError(f"{item!r}: expected KEY=VALUE")
        labels.append((key.upper(), label))
    return labels


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """Add the five global logging options to ``parser`` (before its verbs).

    Parameters
    ----------
    parser : `argparse.ArgumentParser`
        The command's top-level parser.
    """
    group = parser.add_argument_group("logging (as for butler and bps)")
    group.add_argument(
        "--log-level",
        action="extend",
        type=parse_levels,
        metavar="LEVEL|COMPONENT=LEVEL",
        help=f"logging level (default INFO); without a component it sets panda_auth's and lsst's "
        f"loggers, '.=LEVEL' the root logger. Levels: {'|'.join(LOG_LEVELS)}",
    )
    group.add_argument("--long-log", action="store_true", help="make log messages appear in long format")
    group.add_argument(
        "--log-file",
        action="extend",
        type=_items,
        metavar="PATH",
        help="file(s) to append log records to; JSON records when the path ends with '.json'",
    )
    group.add_argument(
        "--log-tty",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="log to the terminal (default); --no-log-tty logs only to the --log-file files",
    )
    group.add_argument(
        "--log-label", action="extend", type=_labels, metavar="KEY=VALUE", help="labels added to records"
    )


def _text_formatter(long_log: bool) -> logging.Formatter:
    from lsst.daf.butler.cli.cliLog import CliLog, PrecisionLogFormatter

    if long_log:
        return PrecisionLogFormatter(fmt=CliLog.pylog_longLogFmt, style="{")
    return logging.Formatter(fmt=CliLog.pylog_normalFmt, style="{")


def _handlers(args: argparse.Namespace) -> list[logging.Handler]:
    handlers: list[logging.Handler] = []
    if args.log_tty:
        terminal = logging.StreamHandler(sys.stderr)
        if args.long_log:
            terminal.setFormatter(_text_formatter(long_log=True))
        else:
            terminal.setFormatter(logging.Formatter("%(message)s"))
        handlers.append(terminal)
    for path in args.log_file or ():
        try:
            to_file = logging.FileHandler(path)
        except OSError as exc:
            for handler in handlers:
                handler.close()
            raise AuthError(AuthExit.USAGE, f"cannot write the log file {path}: {exc.strerror}") from None
        if path.endswith(".json"):
            from lsst.daf.butler.logging import JsonLogFormatter

            to_file.setFormatter(JsonLogFormatter())
        else:
            to_file.setFormatter(_text_formatter(args.long_log))
        handlers.append(to_file)
    return handlers


@contextlib.contextmanager
def configured_logging(
    logger: logging.Logger, args: argparse.Namespace, filters: tuple[logging.Filter, ...] = ()
) -> Iterator[None]:
    """Send ``logger``'s records where the options say, for the duration of the command.

    Parameters
    ----------
    logger : `logging.Logger`
        The command's logger (the PanDA client logs through it too).
    args : `argparse.Namespace`
        Parsed options (`add_log_options`).
    filters : `tuple` [`logging.Filter`], optional
        Filters every handler applies (e.g. one that hides tokens).

    Raises
    ------
    AuthError
        Raised (`AuthExit.USAGE`) if a ``--log-file`` cannot be opened.
    """
    levels = args.log_level or [(None, "INFO")]
    labels = dict(args.log_label or ())
    handlers = _handlers(args)
    saved: dict[str | None, int] = {}
    mdc: Any = None
    if labels or args.long_log or args.log_file:
        # daf_butler's formats read the records' MDC (the long format shows its LABEL).
        from lsst.daf.butler.logging import ButlerMDC

        mdc = ButlerMDC
        mdc.add_mdc_log_record_factory()
        for key, value in labels.items():
            mdc.MDC(key, value)
    for handler in handlers:
        for log_filter in filters:
            handler.addFilter(log_filter)
    previous_handlers, previous_propagate = logger.handlers[:], logger.propagate
    logger.handlers[:] = handlers
    logger.propagate = False
    for component, level in levels:
        _set_level(logger, component, level, saved)
    try:
        yield
    finally:
        logger.handlers[:] = previous_handlers
        logger.propagate = previous_propagate
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        for handler in handlers:
            handler.close()
        if mdc is not None:
            mdc.clear_mdc()
            mdc.restore_log_record_factory()


def _set_level(
    logger: logging.Logger, component: str | None, level: str, saved: dict[str | None, int]
) -> None:
    from lsst.utils.logging import TRACE, VERBOSE

    number = {"VERBOSE": VERBOSE, "TRACE": TRACE}.get(level) or logging.getLevelName(level)
    if component is None:
        names: tuple[str | None, ...] = (logger.name, *_DEFAULT_COMPONENTS)
    elif component == ".":
        names = (None,)
    else:
        names = (component,)
    for name in names:
        target = logging.getLogger(name)
        saved.setdefault(name, target.level)
        target.setLevel(number)
