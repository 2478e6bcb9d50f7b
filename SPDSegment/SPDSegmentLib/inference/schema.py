"""Reading the JSON and CSV documents users hand over (markups, case lists, adapter metadata) with one kind of
error: it names the file, the field, what was found and what to do, and no malformed document ends in a
traceback.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..errors import InputError

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_TEXT = 1000  # longest name or label kept from a document


def load_json(path: str | os.PathLike, what: str, fix: str) -> Any:
    """The JSON document at ``path`` (a ``what``), or :class:`InputError` ending with ``fix``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what[0].upper()}{what[1:]} not found: {path}. Check the path.")
    if not path.is_file():
        raise InputError(f"{path} is not a regular file; give the {what} file itself.")
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise InputError(f"{path} is {path.stat().st_size / 1e6:.0f} MB, more than a {what} can sensibly be "
                         f"({MAX_DOCUMENT_BYTES // 1024 // 1024} MB at most). {fix}")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not valid JSON ({str(error).splitlines()[0][:120]}). {fix}") from None
    except RecursionError:
        raise InputError(f"{path} is nested too deeply to be a {what}. {fix}") from None


def text(value: Any) -> str:
    """A name or label as a bounded, single-line string."""
    return " ".join(str(value).split())[:MAX_TEXT]


def expect(condition: bool, path: os.PathLike, field: str, found: Any, expected: str, fix: str) -> None:
    if not condition:
        shown = repr(found)
        raise InputError(f"{path}: {field} is {shown[:60]}{'…' if len(shown) > 60 else ''}, expected {expected}. {fix}")


def positive_int(value: Any, path: os.PathLike, field: str, fix: str) -> int:
    """``value`` as an integer ≥ 1 (``3`` and ``"3"`` are; ``0``, ``1.9``, ``"abc"`` and ``True`` are not)."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    ok = (isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number)
          and float(number).is_integer() and number >= 1)
    expect(ok, path, field, value, "a whole number of at least 1", fix)
    return int(number)
