"""Backbone weights in the user's home cache (``~/.SPDSegment/models``), downloaded or imported.

Downloads stream with byte progress and cancel, are checked against the catalogue's SHA256 (the full
hash where known, else the hash prefix that the official file name carries, as torch.hub does), and
are renamed into place only when complete. Imports check the file holds the named architecture.
Nothing here imports qt; the Slicer panel shows the licence and the progress.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import CheckpointError, InputError
from .inference.backbones import SAM_VIT_SPECS, describe_state_dict, read_state_dict
from .inference.home import models_dir

CATALOG = Path(__file__).resolve().parent / "models" / "catalog.json"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    title: str
    url: str
    file: str
    licence: str
    size_mb: float
    sha256: str = ""
    sha256_prefix: str = ""


def catalog() -> dict[str, CatalogEntry]:
    entries = json.loads(CATALOG.read_text(encoding="utf-8"))
    return {name: CatalogEntry(name=name, **entry) for name, entry in entries.items()}


def installed_path(name: str) -> Path | None:
    entry = catalog()[name]
    path = models_dir() / entry.file
    return path if path.is_file() else None


class DownloadCancelled(Exception):
    """The user cancelled; no file was left behind."""


def _check_hash(entry: CatalogEntry, digest: str) -> None:
    expected = entry.sha256 or entry.sha256_prefix
    if not expected or not digest.startswith(expected):
        raise CheckpointError(f"Downloaded {entry.file} has SHA256 {digest[:12]}…, expected {expected[:12]}…. "
                              "The download was damaged or replaced; it was deleted. Try again.")


def download(name: str, progress: Callable[[int, int], None] | None = None,
             cancel: Callable[[], bool] | None = None, url: str | None = None, chunk: int = 1 << 20) -> Path:
    """Download backbone ``name`` into :func:`models_dir`; returns the installed path."""
    entries = catalog()
    if name not in entries:
        raise InputError(f"Unknown model {name!r}; choose one of {', '.join(entries)}.")
    entry = entries[name]
    target_dir = models_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / entry.file
    handle, tmp_name = tempfile.mkstemp(prefix=f".{entry.file}.", suffix=".partial", dir=target_dir)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url or entry.url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or entry.size_mb * 1e6)
            done = 0
            while block := response.read(chunk):
                if cancel is not None and cancel():
                    raise DownloadCancelled()
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
        _check_hash(entry, digest.hexdigest())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def import_file(name: str, source: str | os.PathLike) -> Path:
    """Copy a checkpoint the user already has into the store, after checking its architecture."""
    entry = catalog()[name]
    found = describe_state_dict(read_state_dict(source))
    if not found.startswith(name) or name not in SAM_VIT_SPECS:
        raise CheckpointError(f"{source} holds {found}, not {name}. Pick the matching backbone.")
    target_dir = models_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{entry.file}.", suffix=".partial", dir=target_dir)
    os.close(handle)
    try:
        shutil.copyfile(source, tmp_name)
        os.replace(tmp_name, target_dir / entry.file)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target_dir / entry.file
