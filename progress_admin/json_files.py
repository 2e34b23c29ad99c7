"""Reading the old system's JSON files for the importer: a file opened only when it is a regular file inside
the import directory (a symbolic link only to such a file, never followed out, a FIFO never waited on),
and read value by value (JsonStream), holding about one record in memory whatever the file's size."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

# Characters read from a file at a time, and the most one record may span (an attempt is ~200).
READ_CHUNK_CHARS = 64 * 1024
MAX_RECORD_CHARS = 1024 * 1024


class UnreadableRestError(Exception):
    """The file cannot be read past this point (broken JSON, nesting too deep, a record too large)."""


class JsonStream:
    """Reads one JSON document value by value, holding at most about one record in memory.

    Only the containers the import formats need are walked here (the top-level array or object, and an
    `attempts` array inside an object); each record is decoded whole by the standard decoder.
    """

    def __init__(self, source: TextIO) -> None:
        self._source = source
        self._buffer = ""
        self._pos = 0
        self._eof = False
        self._decoder = json.JSONDecoder()

    def _more(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = self._source.read(READ_CHUNK_CHARS)
        except UnicodeDecodeError:
            raise UnreadableRestError("not UTF-8 text") from None
        if not chunk:
            self._eof = True
            return False
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in " \t\r\n":
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._more():
                return ""

    def take(self, expected: str) -> None:
        found = self.peek()
        if found != expected:
            raise UnreadableRestError(
                f"expected {expected!r}, found {found[:1]!r}" if found else "unexpected end"
            )
        self._pos += 1

    def value(self) -> Any:
        """Decode the next value whole."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except RecursionError:
                raise UnreadableRestError("nested too deeply") from None
            except json.JSONDecodeError as exc:
                # at (or just before) the end of what was read: a value cut by the chunk boundary,
                # e.g. `tru|e`, `"\\u00|e9"`, `-|1`; read on and decode it again
                cut_short = exc.pos >= len(self._buffer) - 8 or exc.msg.startswith("Unterminated string")
                if cut_short and len(self._buffer) - self._pos <= MAX_RECORD_CHARS and self._more():
                    continue
                if cut_short and not self._eof:
                    raise UnreadableRestError(f"a record longer than {MAX_RECORD_CHARS} characters") from None
                raise UnreadableRestError(f"not JSON: {exc.msg}") from None
            if end == len(self._buffer) and self._more():
                continue  # a number may go on in the next chunk: decode it again, whole
            self._pos = end
            return value

    def array_items(self) -> Iterator[Any]:
        self.take("[")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            yield self.value()
            separator = self.peek()
            self._pos += 1
            if separator == "]":
                return
            if separator != ",":
                raise UnreadableRestError(f"expected ',' or ']', found {separator[:1]!r}")

    def object_keys(self) -> Iterator[str]:
        """The keys of an object; after each, the caller reads (or skips) its value with value()."""
        self.take("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise UnreadableRestError("expected a key")
            key = self.value()
            self.take(":")
            yield key
            separator = self.peek()
            self._pos += 1
            if separator == "}":
                return
            if separator != ",":
                raise UnreadableRestError(f"expected ',' or '}}', found {separator[:1]!r}")

    def end(self) -> None:
        if self.peek():
            raise UnreadableRestError("more data after the end of the document")


def open_inside(directory: Path, path: Path) -> tuple[TextIO | None, str | None]:
    """Open `path` for reading when it is a regular file in `directory` (a symbolic link only when its
    target is one too); else (None, why not)."""
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.exists():
            return None, "a dangling symbolic link"
        if target.parent != directory.resolve() and directory.resolve() not in target.parents:
            return None, "a symbolic link to outside the directory: not followed"
        path = target
    try:
        # O_NOFOLLOW: nothing swapped in since the check; O_NONBLOCK: a FIFO cannot hang the run
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        return None, "a directory, not a file"
    except OSError as exc:
        return None, f"cannot be opened ({exc.strerror})"
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None, "a directory, not a file" if path.is_dir() else "not a regular file"
    return os.fdopen(fd, encoding="utf-8"), None
