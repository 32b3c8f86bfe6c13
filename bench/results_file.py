# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Replace one benchmark's block, between two copies of its marker, in ``bench/RESULTS.md``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["replace_block"]


def replace_block(path: str | Path, marker: str, body: str) -> None:
    """Write ``body`` between two ``marker`` lines of ``path``, replacing what was there.

    The block is appended when the file does not hold the marker yet; the file is created with a
    title when it does not exist.
    """
    path = Path(path)
    block = f"{marker}\n{body.rstrip()}\n{marker}\n"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if marker in text:
        before, _, rest = text.partition(marker)
        text = before + block + rest.partition(marker)[2].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
