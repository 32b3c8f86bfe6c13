#!/usr/bin/env python3
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Keep the licence header of every tracked source file at the package's licence.

::

    python tools/license_headers.py           # rewrite headers to LICENSE_EXPRESSION; add missing ones
    python tools/license_headers.py --check   # list the files whose header is not (exit 1 if any)

A source file is a tracked file (``git ls-files``, links left out) of the kinds in `SOURCE_SUFFIXES`
and `SOURCE_NAMES`, a script under `SCRIPT_FOLDERS`, or any tracked file whose first lines already
carry an ``SPDX-License-Identifier``.  Its header is `HEADER` in ``#`` comments, after a ``#!`` or
``# -*-`` line.  Run it after merging a branch that adds files (``make license-headers``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

__all__ = ["HEADER", "LICENSE_EXPRESSION", "main", "rewrite", "source_files", "stale_files"]

LICENSE_EXPRESSION = "BSD-3-Clause OR GPL-3.0-or-later"
"""The package's licence (pyproject.toml ``license``): Rubin's dual licence."""

HEADER = (
    "# This file is part of ctrl_bps_panda.\n"
    "# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).\n"
    f"# SPDX-License-Identifier: {LICENSE_EXPRESSION}\n"
)

SOURCE_SUFFIXES = (".py", ".sh", ".yaml")
SOURCE_NAMES = ("Makefile", "SConstruct", "SConscript", "pyproject.toml")
LICENSE_FILES = ("COPYRIGHT", "LICENSE", "bsd_license.txt", "gpl-v3.0.txt")
"""The licence texts themselves (top level): never given a header."""
SCRIPT_FOLDERS = ("bin", ".ci", "tools")
HEADER_SPAN = 400
"""Characters from the start of a file in which the header must be."""

_SPDX = re.compile(r"^(?P<prefix>#\s*)SPDX-License-Identifier:.*$", re.M)
_PREAMBLE = re.compile(r"\A((?:#!.*\n)?(?:# -\*-.*\n)?)")
REPO_ROOT = Path(__file__).resolve().parent.parent


def source_files(root: Path = REPO_ROOT) -> list[Path]:
    """Return the tracked source files under ``root`` (a git work tree).

    Parameters
    ----------
    root : `pathlib.Path`, optional
        The repository's top directory.
    """
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
    files = []
    for name in listed.stdout.decode().split("\0"):
        path = root / name
        if not name or name in LICENSE_FILES or path.is_symlink() or not path.is_file():
            continue
        kind = path.suffix in SOURCE_SUFFIXES or path.name in SOURCE_NAMES
        script = Path(name).parts[0] in SCRIPT_FOLDERS
        if kind or script or _carries_spdx(path):
            files.append(path)
    return sorted(files)


def _head(path: Path) -> str:
    try:
        return path.read_text()[:HEADER_SPAN]
    except UnicodeDecodeError:
        return ""


def _carries_spdx(path: Path) -> bool:
    return "SPDX-License-Identifier:" in _head(path)


def stale_files(root: Path = REPO_ROOT) -> list[Path]:
    """Return the source files whose header is missing or names another licence.

    Parameters
    ----------
    root : `pathlib.Path`, optional
        The repository's top directory.
    """
    wanted = f"SPDX-License-Identifier: {LICENSE_EXPRESSION}\n"
    return [path for path in source_files(root) if wanted not in _head(path)]


def rewrite(path: Path) -> bool:
    """Put `HEADER`'s licence in ``path``; return whether the file changed.

    An existing ``SPDX-License-Identifier`` line near the top is rewritten in place; a file with
    none gets the whole header after its ``#!`` / ``# -*-`` lines.

    Parameters
    ----------
    path : `pathlib.Path`
        A source file (``#`` comments).
    """
    text = path.read_text()
    head = text[:HEADER_SPAN]
    if _SPDX.search(head):
        new_head = _SPDX.sub(lambda m: f"{m['prefix']}SPDX-License-Identifier: {LICENSE_EXPRESSION}", head, 1)
        new_text = new_head + text[HEADER_SPAN:]
    else:
        preamble = _PREAMBLE.match(text).group(1)  # type: ignore[union-attr]
        new_text = preamble + HEADER + ("\n" if text[len(preamble) :].strip() else "") + text[len(preamble) :]
    if new_text == text:
        return False
    path.write_text(new_text)
    return True


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` list) the headers; return the exit code.

    Parameters
    ----------
    argv : `list` [`str`], optional
        Command-line arguments; `None` reads ``sys.argv``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list the files to fix; exit 1 if any")
    args = parser.parse_args(argv)
    stale = stale_files()
    if args.check:
        for path in stale:
            print(path.relative_to(REPO_ROOT))
        return 1 if stale else 0
    changed = [path for path in stale if rewrite(path)]
    print(f"{len(changed)} header(s) set to {LICENSE_EXPRESSION}")
    return 0 if not stale_files() else 1


if __name__ == "__main__":
    sys.exit(main())
