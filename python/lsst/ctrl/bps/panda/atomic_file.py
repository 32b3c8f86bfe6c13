# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Write a small file so that a reader never sees half of it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Parameters
    ----------
    path : `pathlib.Path`
        The file to write (replaced if it exists).
    text : `str`
        Its new content.

    Raises
    ------
    OSError
        Raised if the file cannot be written; ``path`` is then unchanged.
    """
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
