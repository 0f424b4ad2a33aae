"""Reading the text inputs users hand us (list files, split CSVs, class files): UTF-8 with an
optional BOM, and one-line errors naming the file, line and byte of anything that is not UTF-8."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from tsncli.errors import DataError


def read_text(path: str | os.PathLike[str], what: str, *, raw_names: bool = False) -> str:
    """The text of `path` (a `what`, e.g. "split file"), a leading UTF-8 BOM dropped.

    `raw_names`: bytes that are not UTF-8 come back as surrogates (file names written by
    `tsn lists` on a non-UTF-8 file system) instead of failing.
    """
    p = Path(path)
    data = p.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8", errors="surrogateescape" if raw_names else "strict")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"{p}:{line}: {what} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}, column {column}); save it as UTF-8 and rerun"
        ) from None


def read_text_lines(
    path: str | os.PathLike[str], what: str, *, raw_names: bool = False
) -> list[str]:
    """`read_text` split at newlines only (CR/LF dropped), so item i is line i + 1 of the file."""
    lines = read_text(path, what, raw_names=raw_names).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]
