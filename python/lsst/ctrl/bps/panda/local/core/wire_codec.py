# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The relay's wire format: request bodies, restricted iDDS-JSON, reply envelopes.

The PanDA client posts ``command_name``, ``args``, ``kwargs`` (iDDS-JSON
strings) and ``manager``, gzip-compressed (no ``Content-Encoding`` header:
the gzip magic bytes tell) or form-encoded.  iDDS-JSON rebuilds any
``{"class", "module", "attributes"}`` object by importing its module, so
the local PanDA first walks the parsed JSON and refuses every class that is
not one of the iDDS workflow classes a BPS submission really contains.
"""

from __future__ import annotations

import json
import zlib
from typing import Any
from urllib.parse import parse_qs

from idds.common.constants import IDDSEnum
from idds.common.utils import DictClassEncoder, json_loads

from ...errors import BadRequestBodyError, ForbiddenClassError

__all__ = [
    "ALLOWED_CLASSES",
    "MAX_BODY_BYTES",
    "RelayCall",
    "decode_body",
    "encode_reply",
    "load_restricted",
]


MAX_BODY_BYTES = 256 * 1024**2
"""Largest accepted body after decompression (a 1,000,000-job submit inflates to ~60 MB)."""

_GUNZIP_CHUNK = 1024**2
"""Bytes inflated at a time, so that a compression bomb stops at the cap, not after it."""

ALLOWED_CLASSES = frozenset(
    {
        ("idds.workflowv2.workflow", "Workflow"),
        ("idds.workflowv2.workflow", "WorkflowBase"),
        ("idds.workflowv2.workflow", "AndCondition"),
        ("idds.workflowv2.workflow", "ConditionOperator"),
        ("idds.workflowv2.work", "Collection"),
        ("idds.doma.workflowv2.domapandawork", "DomaPanDAWork"),
        ("idds.common.dict_class", "DictMetadata"),
        ("idds.common.constants", "TransformType"),
    }
)
"""(module, class) pairs allowed in a request: exactly those found in the
iDDS-JSON of a workflow made by `lsst.ctrl.bps.panda.prepare.convert` (with its final
job's `AndCondition`) and of the steps of ``Workflow.split_workflow_to_steps``."""

_GZIP_MAGIC = b"\x1f\x8b"


class RelayCall:
    """One decoded relay call.

    Parameters
    ----------
    command : `str`
        ``ClientManager`` method name.
    args_text, kwargs_text : `str` or `None`
        The iDDS-JSON of the positional and keyword arguments, not yet loaded.
    manager : `bool`
        The client asked for the ``ClientManager`` API.
    """

    def __init__(self, command: str, args_text: str | None, kwargs_text: str | None, manager: bool) -> None:
        self.command = command
        self.args_text = args_text
        self.kwargs_text = kwargs_text
        self.manager = manager

    def arguments(self) -> tuple[list[Any], dict[str, Any]]:
        """Load the arguments with the restricted loader.

        Returns
        -------
        args : `list`
            Positional arguments.
        kwargs : `dict`
            Keyword arguments.

        Raises
        ------
        ForbiddenClassError
            Raised if an argument names a class that is not allowed.
        BadRequestBodyError
            Raised if the arguments are not a JSON list and object.
        """
        try:
            args = load_restricted(self.args_text) if self.args_text else []
            kwargs = load_restricted(self.kwargs_text) if self.kwargs_text else {}
        except RecursionError:
            raise BadRequestBodyError("arguments are nested too deeply") from None
        if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
            raise BadRequestBodyError("args must be a JSON list and kwargs a JSON object")
        return list(args), kwargs


def _gunzip(raw: bytes) -> bytes:
    decompressor = zlib.decompressobj(wbits=31)
    parts: list[bytes] = []
    size = 0
    pending = raw
    while pending:
        part = decompressor.decompress(pending, _GUNZIP_CHUNK)
        size += len(part)
        if size > MAX_BODY_BYTES:
            raise BadRequestBodyError(f"body is larger than {MAX_BODY_BYTES} bytes once decompressed")
        parts.append(part)
        pending = decompressor.unconsumed_tail
        if decompressor.eof:
            break
    return b"".join(parts)


def _field(form: dict[str, Any], name: str) -> Any:
    value = form.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def decode_body(raw: bytes) -> RelayCall:
    """Decode the body of a ``relay_idds_command`` POST.

    Parameters
    ----------
    raw : `bytes`
        The request body as received.

    Returns
    -------
    call : `RelayCall`
        Command name and (unloaded) arguments.

    Raises
    ------
    BadRequestBodyError
        Raised if the body is neither gzip-compressed JSON, JSON, nor
        form-encoded, or has no ``command_name``.
    """
    try:
        if raw[:2] == _GZIP_MAGIC:
            form = json.loads(_gunzip(raw))
        elif raw.lstrip()[:1] == b"{":
            form = json.loads(raw)
        else:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestBodyError(f"undecodable body: {exc}") from None
    except RecursionError:
        raise BadRequestBodyError("body is nested too deeply") from None
    if not isinstance(form, dict):
        raise BadRequestBodyError("body must be a JSON object or form fields")
    command = _field(form, "command_name")
    if not command or not isinstance(command, str):
        raise BadRequestBodyError("body has no command_name")
    manager = _field(form, "manager")
    manager = manager is True or (isinstance(manager, str) and manager.lower() == "true")
    return RelayCall(command, _field(form, "args"), _field(form, "kwargs"), manager)


def _check_classes(tree: Any) -> None:
    """Raise `ForbiddenClassError` for the first disallowed class in ``tree``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "class" in node and "module" in node and "attributes" in node:
                key = (node["module"], node["class"])
                if key not in ALLOWED_CLASSES:
                    raise ForbiddenClassError(
                        f"class {node['class']!r} of module {node['module']!r} is not allowed in a request "
                        "to the local PanDA (only the iDDS workflow classes of a BPS submission are)"
                    )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def load_restricted(text: str | bytes) -> Any:
    """Load iDDS-JSON, rebuilding only the allowed iDDS classes.

    Parameters
    ----------
    text : `str` or `bytes`
        The iDDS-JSON text, as written by `idds.common.utils.json_dumps`.

    Returns
    -------
    value : `typing.Any`
        The rebuilt value.

    Raises
    ------
    ForbiddenClassError
        Raised, before anything is imported or built, if the JSON names any
        class outside `ALLOWED_CLASSES`.
    BadRequestBodyError
        Raised if ``text`` is not JSON.
    """
    try:
        tree = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequestBodyError(f"arguments are not JSON: {exc}") from None
    _check_classes(tree)
    # Every class is allowed: let iDDS rebuild the objects exactly as it would.
    return json_loads(text)


class _ReplyEncoder(DictClassEncoder):
    """iDDS-JSON, with enums always in their canonical three attributes.

    iDDS's loader sets ``_loading`` on the (singleton) enum members it
    rebuilds, which ``to_dict`` would then carry into every later reply of
    the process.
    """

    def default(self, obj: Any) -> Any:
        if isinstance(obj, IDDSEnum):
            attributes = {"_value_": obj.value, "_name_": obj.name, "_sort_order_": obj._sort_order_}
            return {"class": type(obj).__name__, "module": type(obj).__module__, "attributes": attributes}
        return super().default(obj)


def encode_reply(ok: bool, value: Any) -> str:
    """Return the relay's reply envelope ``[ok, value]`` as iDDS-JSON.

    Parameters
    ----------
    ok : `bool`
        `False` when the relay itself failed.
    value : `typing.Any`
        The ``ClientManager`` return value (``[False, msg]`` for errors
        inside a call), or the relay's error message.

    Returns
    -------
    text : `str`
        JSON in which iDDS enums travel as ``{"class", "module", "attributes"}``.
    """
    return json.dumps([ok, value], cls=_ReplyEncoder)
