"""Where SPDSegment keeps files between runs: ``$SPDSEGMENT_HOME``, default ``~/.SPDSegment``."""

from __future__ import annotations

import os
from pathlib import Path


def models_dir() -> Path:
    """``$SPDSEGMENT_HOME/models``, default ``~/.SPDSegment/models`` (shared by every Slicer install)."""
    return Path(os.environ.get("SPDSEGMENT_HOME", Path.home() / ".SPDSegment")).expanduser() / "models"
