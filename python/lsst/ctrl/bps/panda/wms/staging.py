# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Copy a prepared workflow's files to ``fileDistributionEndPoint``.

Files (quantum graph, butler configuration, transferred executables) are
copied with `lsst.resources.ResourcePath`, so the end point and the sources
may use any scheme it knows (a path without scheme is a local file).
Transfers run in a bounded thread pool; each file is verified at the end
point (existence and size) before it is reported as staged.

Re-staging policy: a file already at the end point with the same content is
left alone and reported as unchanged, so staging a workflow again (after a
failed submission) succeeds without copying anything.  A file already there
with *different* content is an error unless ``overwrite=True``: the end point
may be shared with a workflow whose jobs are reading that file, and silently
replacing it would change their inputs.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Protocol

from lsst.resources import ResourcePath
from lsst.utils.logging import PeriodicLogger

from ..errors import PandaConfigError, PandaStagingError, StagedFileError, StagingConflictError
from ..prepare.settings import shipped_default

__all__ = ["PROGRESS_INTERVAL", "StagingReport", "stage_files"]

_LOG = logging.getLogger(__name__)

PROGRESS_INTERVAL = 5.0
"""Seconds between progress messages while staging many files."""

_COMPARE_CHUNK = 1 << 20
_REASONS_PER_NAME = 3


@dataclasses.dataclass(frozen=True, slots=True)
class StagingReport:
    """What `stage_files` did.

    Attributes
    ----------
    end_point : `str`
        The end point files were staged to.
    copied : `tuple` [`str`, ...]
        Names copied (or replaced, with ``overwrite``) at the end point.
    unchanged : `tuple` [`str`, ...]
        Names already at the end point with the same content.
    file_count : `int`
        Files transferred, counting the contents of directories.
    byte_count : `int`
        Bytes transferred.
    seconds : `float`
        Wall time of the staging.
    """

    end_point: str
    copied: tuple[str, ...]
    unchanged: tuple[str, ...]
    file_count: int
    byte_count: int
    seconds: float

    @property
    def staged(self) -> tuple[str, ...]:
        """All names verified to be at the end point, sorted."""
        return tuple(sorted(self.copied + self.unchanged))


@dataclasses.dataclass(frozen=True, slots=True)
class _Transfer:
    """One file (or one empty directory) to put at the end point."""

    name: str
    source: ResourcePath
    target: ResourcePath


class _Readable(Protocol):
    """A binary file handle (a `ResourcePath.open` handle or a plain file)."""

    def read(self, size: int = -1) -> bytes: ...


def stage_files(
    files_to_stage: Mapping[str, str],
    end_point: str,
    *,
    max_workers: int | None = None,
    overwrite: bool = False,
) -> StagingReport:
    """Copy files to the distribution end point and verify that they arrived.

    Parameters
    ----------
    files_to_stage : `~collections.abc.Mapping` [`str`, `str`]
        Source URI (or local path) by name at the end point (a plain base
        name).  A directory is copied with everything under it.
    end_point : `str`
        Resolved ``fileDistributionEndPoint`` (any `ResourcePath` scheme).
    max_workers : `int`, optional
        Maximum number of concurrent transfers (default: ``maxCopyWorkers``
        of the shipped ``bps_panda.yaml``).
    overwrite : `bool`, optional
        Replace files that are at the end point with different content,
        instead of failing.

    Returns
    -------
    report : `StagingReport`
        Names copied and names already there, with transfer totals.

    Raises
    ------
    PandaConfigError
        Raised if there are files to stage but ``end_point`` is empty, or
        ``max_workers`` is below 1.
    PandaStagingError
        Raised if any file could not be staged; the message names each one
        with the reason, ``failures`` holds them and ``staged`` the names that
        did arrive.
    """
    start = time.monotonic()
    if not files_to_stage:
        return StagingReport(end_point, (), (), 0, 0, 0.0)
    if not end_point:
        raise PandaConfigError(
            f"fileDistributionEndPoint is empty but {len(files_to_stage)} files must be staged "
            f"({', '.join(sorted(files_to_stage))}); set fileDistributionEndPoint"
        )
    if max_workers is None:
        max_workers = int(shipped_default("maxCopyWorkers"))
    if max_workers < 1:
        raise PandaConfigError(f"max_workers must be at least 1, got {max_workers}")
    root = ResourcePath(end_point, forceDirectory=True)
    tally = _Tally({name: set() for name in files_to_stage})
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="panda-staging")
    try:
        transfers = _plan_all(pool, files_to_stage, root, tally)
        _LOG.info("Staging %d files (%d names) to %s", len(transfers), len(files_to_stage), end_point)
        _transfer_all(pool, transfers, overwrite, tally, start)
    finally:
        # On an interruption, drop what has not started; let running transfers end cleanly.
        pool.shutdown(wait=True, cancel_futures=True)
    return _report(tally, files_to_stage, end_point, start)


@dataclasses.dataclass(slots=True)
class _Tally:
    """Outcomes and failures by name, and totals, as transfers end."""

    outcomes: dict[str, set[str]]
    failures: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    file_count: int = 0
    byte_count: int = 0

    def fail(self, name: str, exc: BaseException) -> None:
        self.failures.setdefault(name, []).append(_reason(exc))


def _plan_all(
    pool: concurrent.futures.Executor, files_to_stage: Mapping[str, str], root: ResourcePath, tally: _Tally
) -> list[_Transfer]:
    """List every file transfer (directories walked in parallel); record names that cannot be planned."""
    planned = {name: pool.submit(_plan, name, str(src), root) for name, src in files_to_stage.items()}
    transfers: list[_Transfer] = []
    for name, future in planned.items():
        try:
            transfers.extend(future.result())
        except Exception as exc:
            tally.fail(name, exc)
    return transfers


def _transfer_all(
    pool: concurrent.futures.Executor,
    transfers: list[_Transfer],
    overwrite: bool,
    tally: _Tally,
    start: float,
) -> None:
    """Run the transfers in the pool, counting outcomes and logging progress."""
    progress = PeriodicLogger(_LOG, PROGRESS_INTERVAL)
    running = {pool.submit(_transfer, item, overwrite): item for item in transfers}
    for done, future in enumerate(concurrent.futures.as_completed(running), 1):
        item = running[future]
        try:
            outcome, size = future.result()
        except Exception as exc:
            tally.fail(item.name, exc)
        else:
            tally.outcomes[item.name].add(outcome)
            if outcome == "copied":
                tally.file_count += 1
                tally.byte_count += size
        progress.log(
            "Staging: %d/%d files done, %.1f MB copied (%.0f s)",
            done,
            len(running),
            tally.byte_count / 1e6,
            time.monotonic() - start,
        )


def _report(tally: _Tally, files_to_stage: Mapping[str, str], end_point: str, start: float) -> StagingReport:
    """Return the report of a staging, or raise naming every file that failed."""
    failures, outcomes = tally.failures, tally.outcomes
    copied = tuple(sorted(n for n, o in outcomes.items() if n not in failures and "copied" in o))
    unchanged = tuple(sorted(n for n, o in outcomes.items() if n not in failures and o == {"unchanged"}))
    if failures:
        message = _failure_message(failures, files_to_stage, end_point)
        raise PandaStagingError(message, _first(failures), tuple(sorted(copied + unchanged)))
    report = StagingReport(
        end_point, copied, unchanged, tally.file_count, tally.byte_count, time.monotonic() - start
    )
    _LOG.info(
        "Staged %d names to %s: %d copied, %d already there and identical (%d files, %.1f MB, %.1f s)",
        len(report.staged),
        end_point,
        len(copied),
        len(unchanged),
        tally.file_count,
        tally.byte_count / 1e6,
        report.seconds,
    )
    return report


def _plan(name: str, source: str, root: ResourcePath) -> list[_Transfer]:
    """List the file transfers that stage ``source`` as ``name``."""
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{name!r} is not a plain file name (the name at the end point)")
    src = ResourcePath(source)
    if not src.isdir():
        if src.exists():
            return [_Transfer(name, src, root.join(name, forceDirectory=False))]
        # Object stores have no directories: a directory is the objects under its prefix.
        src = ResourcePath(source.rstrip("/") + "/", forceDirectory=True)
    target_dir = root.join(name, forceDirectory=True)
    transfers: list[_Transfer] = []
    for dirpath, _, filenames in src.walk():
        relative = dirpath.relative_to(src)
        dest_dir = target_dir.join(relative, forceDirectory=True) if relative else target_dir
        transfers.extend(
            _Transfer(name, dirpath.join(filename), dest_dir.join(filename))
            for filename in filenames
            if filename
        )
    if not transfers:
        if not src.exists():
            raise FileNotFoundError(f"source {source} does not exist")
        transfers.append(_Transfer(name, src, target_dir))  # An empty directory.
    return transfers


def _transfer(item: _Transfer, overwrite: bool) -> tuple[str, int]:
    """Copy one file unless an identical one is there; return the outcome and bytes copied."""
    source, target = item.source, item.target
    if target.isdir():
        existed = target.exists()
        if not existed:
            target.mkdir()
        if not target.exists():
            raise StagedFileError(f"directory {target} was not created")
        return ("unchanged" if existed else "copied"), 0
    try:
        size = source.size()
    except FileNotFoundError:
        raise FileNotFoundError(f"source {source} does not exist") from None
    if target.exists():
        if _same_content(source, target, size):
            return "unchanged", 0
        if not overwrite:
            raise StagingConflictError(
                f"{target} already exists with different content than {source}; another workflow may be "
                "using this end point: use a per-run fileDistributionEndPoint, remove the file, or "
                "stage with overwrite"
            )
        target.transfer_from(source, transfer="copy", overwrite=True)
    else:
        target.transfer_from(source, transfer="copy")
    if not target.exists():
        raise StagedFileError(f"{target} is missing after the transfer from {source}")
    arrived = target.size()
    if arrived != size:
        raise StagedFileError(
            f"{target} has {arrived} bytes after the transfer, expected {size} from {source}"
        )
    return "copied", size


def _same_content(source: ResourcePath, target: ResourcePath, size: int) -> bool:
    """Return whether ``target`` holds the same bytes as ``source``."""
    if target.size() != size:
        return False
    with source.open("rb") as src_handle, target.open("rb") as dst_handle:
        while True:
            expected = _read_chunk(src_handle)
            if expected != _read_chunk(dst_handle):
                return False
            if not expected:
                return True


def _read_chunk(handle: _Readable) -> bytes:
    """Read `_COMPARE_CHUNK` bytes, fewer only at the end of the file."""
    parts = []
    wanted = _COMPARE_CHUNK
    while wanted:
        data = handle.read(wanted)
        if not data:
            break
        parts.append(data)
        wanted -= len(data)
    return b"".join(parts)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError | ValueError | StagedFileError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _first(failures: dict[str, list[str]]) -> dict[str, str]:
    return {name: reasons[0] for name, reasons in sorted(failures.items())}


def _failure_message(failures: dict[str, list[str]], sources: Mapping[str, str], end_point: str) -> str:
    lines = [f"Could not stage {len(failures)} of {len(sources)} files to {end_point}:"]
    for name, reasons in sorted(failures.items()):
        more = f" (and {len(reasons) - _REASONS_PER_NAME} more)" if len(reasons) > _REASONS_PER_NAME else ""
        lines.append(f"  {name} (from {sources[name]}): {'; '.join(reasons[:_REASONS_PER_NAME])}{more}")
    return "\n".join(lines)
