# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Check the import contracts of pyproject.toml ([tool.importlinter]) with import-linter.

import-linter (grimp) needs a top-level package, and ``lsst.ctrl.bps.panda`` lives inside
ctrl_bps's regular package ``lsst.ctrl.bps``.  So the package is copied under a private
``lsst/ctrl/bps/`` with ``__init__.py`` files of its own, which a subprocess finds first on its
path, and ``lint-imports`` checks the copy with ``root_package = "lsst"``.  Nothing is imported:
grimp reads the sources.

Run: ``python tests/support/import_contracts.py`` (``make lint`` and tests/test_layers.py do).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["check_contracts"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "python" / "lsst" / "ctrl" / "bps" / "panda"


def check_contracts(extra_modules: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``lint-imports`` on a copy of the package; return the finished process.

    Parameters
    ----------
    extra_modules : `dict` [`str`, `str`], optional
        Modules to add to the copy (path under the package, e.g. ``prepare/x.py``, to source):
        the tests use it to check that a contract catches an import against the direction.
    """
    with tempfile.TemporaryDirectory(prefix="import-contracts-") as tmp:
        root = Path(tmp)
        bps = root / "lsst" / "ctrl" / "bps"
        shutil.copytree(PACKAGE, bps / "panda", ignore=shutil.ignore_patterns("resources", "__pycache__"))
        for folder in (root / "lsst", root / "lsst" / "ctrl", bps):
            (folder / "__init__.py").write_text("")
        for name, source in (extra_modules or {}).items():
            (bps / "panda" / name).write_text(source)
        lint_imports = Path(sys.executable).with_name("lint-imports")
        env = {**os.environ, "PYTHONPATH": str(root)}
        return subprocess.run(
            [str(lint_imports), "--no-cache", "--no-logo", str(REPO_ROOT / "pyproject.toml")],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )


if __name__ == "__main__":
    result = check_contracts()
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    sys.exit(result.returncode)
