# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""One exception hierarchy: every exception class lives in `errors`, under `PandaPluginError`."""

import ast
import builtins
import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest
from lsst.ctrl.bps.panda import errors
from lsst.ctrl.bps.panda.errors import PandaPluginError

PACKAGE = Path(errors.__file__).resolve().parent

EXEMPT_PARTS = ("edgenode", "resources")
"""Folders whose files keep their own exceptions: the worker-side decoders (and their shipped copies)."""

EXEMPT_DIRS = (PACKAGE / "local" / "idds" / "scripts", PACKAGE / "local" / "panda" / "scripts")
"""Scripts run by the servers' virtualenv: standard library only, never imported by the plugin."""

BARE_RUNTIME_ERROR = re.compile(r"\braise\s+RuntimeError\s*\(")


def _checked_files() -> list[Path]:
    """Return the package's source files, exempt ones left out."""
    files = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if set(relative.parts[:-1]) & set(EXEMPT_PARTS):
            continue
        if any(path.is_relative_to(folder) for folder in EXEMPT_DIRS):
            continue
        files.append(path)
    return files


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([errors.__name__.rpartition(".")[0], *parts])


def _resolve(node: ast.expr, namespace: dict) -> object:
    """Return the object a base-class expression names in ``namespace`` (`None` if it cannot)."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id, getattr(builtins, node.id, None))
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def exception_classes_in(source: str, namespace: dict) -> list[str]:
    """Return the names of the exception classes ``source`` defines, at any depth.

    A base is looked up in ``namespace`` (the imported module's globals, then builtins); a base
    that cannot be looked up (a class local to a function) counts when its name says error.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for base in node.bases:
            resolved = _resolve(base, namespace)
            if resolved is None:
                is_exception = re.search(r"(Error|Exception)$", ast.unparse(base)) is not None
            else:
                is_exception = inspect.isclass(resolved) and issubclass(resolved, BaseException)
            if is_exception:
                found.append(node.name)
                break
    return found


def bare_runtime_errors(source: str) -> list[int]:
    """Return the line numbers of ``raise RuntimeError(`` in ``source``."""
    return [number for number, line in enumerate(source.splitlines(), 1) if BARE_RUNTIME_ERROR.search(line)]


def _import(path: Path) -> ModuleType:
    return importlib.import_module(_module_name(path))


def test_the_walk_sees_the_modules_of_every_sub_package():
    names = {_module_name(path) for path in _checked_files()}
    for expected in (
        "wms.idds_port",
        "wms.staging",
        "local.state.store",
        "local.core.wire_codec",
        "panda_service",
    ):
        assert f"lsst.ctrl.bps.panda.{expected}" in names
    assert not any(".edgenode." in name or ".scripts." in name for name in names)


def test_a_planted_exception_class_or_bare_runtime_error_is_found():
    source = (
        "import json\n"
        "class Planted(ValueError):\n    pass\n"
        "class Decoded(json.JSONDecodeError):\n    pass\n"
        "def f():\n    class Local(SomeError):\n        pass\n    raise RuntimeError('x')\n"
        "class NotAnError(dict):\n    pass\n"
    )
    import json

    assert exception_classes_in(source, {"json": json}) == ["Planted", "Decoded", "Local"]
    assert bare_runtime_errors(source) == [9]


@pytest.mark.parametrize("path", _checked_files(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_exception_classes_are_defined_only_in_errors(path):
    if path == PACKAGE / "errors.py":
        return
    defined = exception_classes_in(path.read_text(), vars(_import(path)))
    assert defined == [], f"{path.name} defines {defined}: move them to errors.py under PandaPluginError"


@pytest.mark.parametrize("path", _checked_files(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_bare_runtime_error_is_raised(path):
    lines = bare_runtime_errors(path.read_text())
    assert lines == [], f"{path.name} raises RuntimeError at lines {lines}: raise a class of errors.py"


def _classes_of_errors() -> list[type]:
    return [
        value
        for value in vars(errors).values()
        if inspect.isclass(value) and value.__module__ == errors.__name__
    ]


def test_errors_defines_only_exceptions_under_the_base_each_exported_and_documented():
    classes = _classes_of_errors()
    assert len(classes) == len(exception_classes_in(Path(errors.__file__).read_text(), vars(errors)))
    for cls in classes:
        assert issubclass(cls, PandaPluginError), f"{cls.__name__} does not derive from PandaPluginError"
        assert cls.__name__ in errors.__all__, f"{cls.__name__} is missing from errors.__all__"
        assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring saying when it is raised"
    assert sorted(errors.__all__) == sorted(cls.__name__ for cls in classes)


def test_the_classes_callers_catch_as_builtins_still_are_those_builtins():
    assert issubclass(errors.PandaConfigError, ValueError)
    assert issubclass(errors.PandaPrepareError, ValueError)
    assert issubclass(errors.UnknownRequestError, KeyError)
    assert str(errors.UnknownRequestError(7)) == "Request 7 does not exist in the local PanDA"


def test_groups_hold_their_members():
    assert issubclass(errors.IddsOutageError, errors.IddsTransientError)
    assert issubclass(errors.IddsUnknownRequestError, errors.IddsCallError)
    assert issubclass(errors.StagingConflictError, errors.StagingError)
    assert issubclass(errors.AlreadySubmittedError, errors.SubmissionError)
    assert issubclass(errors.PostgresError, errors.IddsStackError)
    assert issubclass(errors.ForbiddenClassError, errors.WireCodecError)
    assert issubclass(errors.TokenRejectedError, errors.LocalPandaError)
