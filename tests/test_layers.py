# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The package's plan: import directions, no cycles, rooms of a readable size that say what they hold."""

import ast
import tomllib
from pathlib import Path

import networkx
import pytest
from support.import_contracts import PACKAGE, check_contracts
from support.paths import REPO_ROOT

PACKAGE_NAME = "lsst.ctrl.bps.panda"

MAX_MODULES_PER_FOLDER = 12

PUBLISHED_ADAPTERS = {
    "panda_service",
    "utils",
    "constants",
    "version",
    "cmd_line_embedder",
    "panda_auth_utils",
    "panda_auth_drivers",
    "panda_exceptions",
    "cli",
}
"""Module paths of the published 30.x plugin, kept at the top level as thin adapters (``cli`` a package)."""


def package_sources():
    return [p for p in PACKAGE.rglob("*.py") if "resources" not in p.relative_to(PACKAGE).parts]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parents[3]).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``path`` imports (at any depth of its code)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [f"{target}.{alias.name}" for alias in node.names] + [target]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in known and c != name)
    return found


def test_the_import_contracts_are_kept():
    result = check_contracts()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


@pytest.mark.parametrize(
    "module, source",
    [
        ("prepare/bad_import.py", "from ..local.core import job_states\n"),
        ("local/core/bad_import.py", "from ..engine import scheduler\n"),
        ("local/state/bad_import.py", "from lsst.ctrl.bps.panda.wms import idds_port\n"),
    ],
)
def test_an_import_against_the_direction_breaks_a_contract(module, source):
    result = check_contracts({module: source})
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout


def test_no_module_imports_itself_back_through_others():
    sources = package_sources()
    known = {module_name(p) for p in sources}
    graph = networkx.DiGraph()
    for path in sources:
        graph.add_edges_from((module_name(path), target) for target in imported_modules(path, known))
    # A package's __init__ importing its own modules is not a cycle of meaning: leave them out.
    graph.remove_edges_from([(a, b) for a, b in graph.edges if b.startswith(a + ".")])
    cycles = [sorted(c) for c in networkx.strongly_connected_components(graph) if len(c) > 1]
    assert cycles == []


def test_no_folder_holds_more_than_about_twelve_modules():
    crowded = {}
    for folder in [PACKAGE, *[p.parent for p in PACKAGE.rglob("__init__.py")]]:
        if "resources" in folder.relative_to(PACKAGE).parts:
            continue
        modules = {p.stem for p in folder.glob("*.py")} - {"__init__"}
        if folder == PACKAGE:
            modules -= PUBLISHED_ADAPTERS
        if len(modules) > MAX_MODULES_PER_FOLDER:
            crowded[str(folder.relative_to(PACKAGE))] = sorted(modules)
    assert crowded == {}


def test_every_package_docstring_names_each_of_its_modules_and_packages():
    missing = {}
    for init in PACKAGE.rglob("__init__.py"):
        folder = init.parent
        if "resources" in folder.relative_to(PACKAGE).parts:
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        names = {p.stem for p in folder.glob("*.py")} | {p.parent.name for p in folder.glob("*/__init__.py")}
        names -= {"__init__"}
        if folder == PACKAGE:
            names -= PUBLISHED_ADAPTERS
        absent = sorted(n for n in names if f"`{n}`" not in docstring and f"`{n}," not in docstring)
        if absent:
            missing[str(folder.relative_to(PACKAGE)) or "."] = absent
    assert missing == {}


def test_pyproject_lists_every_package_folder():
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        module_name(init)
        for init in PACKAGE.rglob("__init__.py")
        if "resources" not in init.relative_to(PACKAGE).parts
    }
    assert folders <= listed, sorted(folders - listed)
