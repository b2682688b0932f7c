"""A user's text file read strictly: UTF-8 or a clear error naming the line of the first bad byte;
a leading byte-order mark is not content. Shared by `intentd data import`, domain.yaml, `intentd
serve --config` and `intentd loadtest --texts`, which word the error each in its own way."""

from __future__ import annotations

from pathlib import Path


class NotUtf8(ValueError):
    """`line` (1-based) holds the first byte that is not UTF-8; str() says which byte and why."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


def read_utf8(path: str | Path) -> str:
    """The file's text. Raises OSError when it cannot be read, NotUtf8 when it is not UTF-8."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise NotUtf8(line, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def split_lines(text: str, sep: str = "\n") -> list[str]:
    """Lines split on `sep` only (a trailing "\\r" dropped): str.splitlines() also splits on
    U+2028, U+0085, form feeds and other separators, which JSON strings and user texts may hold."""
    lines = text.split(sep)
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
