"""Opt-in capture of escalated and low-confidence queries, for people to label and retrain on.

Each line is canonical JSONL (models/data/schema.py) pre-filled with the model's guess, so after
a person corrects `intent` / `entities` (or sets `"ood": true`), `intentd data import --format
jsonl` reads the file back as it is. The file is size-bounded and rotated (review.jsonl,
review.jsonl.1, ...). Off by default; `redact_digits` (server/redact.py) replaces digits, spoken
digit runs and e-mail addresses before anything touches the disk.

The file holds what customers typed, so it is created 0600 and opened with O_NOFOLLOW: a symlink
planted at the path is refused (the record is dropped and counted), never written through; a FIFO
or device there is refused too. A write that fails (full disk, I/O error, file size limit) is
cut back to the file's size before it, so the next record starts on a clean line and the file
still imports. Records are counted when written and when dropped (`on_written`, `on_dropped` with
a reason from DROP_REASONS: the metrics layer passes its counters).

Several processes may write one file (`serve --workers N`): each record's size check, rotation
and write are done holding an exclusive lock (flock) on the file itself, so no two rotate at
once (one overwrote the backup the other had just made) and a failed write is cut back with
no other record after it. No lock file: a lock on our own 0600 file is one no other user can
take.

Records are built and written on a background thread: the request path only pays for a queue put.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import logging
import os
import queue
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from intentd.errors import IntentdError

from .analysis import Analysis
from .redact import redact

log = logging.getLogger(__name__)
# characters that break a line or turn text around in viewers and str.splitlines(): written as JSON
# escapes (the record reads back the same; a caller's session id holding U+2028 forged records)
_ESCAPED = {c: f"\\u{c:04x}" for c in (0x85, 0x2028, 0x2029, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                          *range(0x2066, 0x206A))}

# Why a record did not reach the file: the queue was full; the path is a symlink or not a
# regular file; the write failed; building the record failed (a bug, logged with its traceback).
DROP_REASONS = ("queue_full", "unsafe_path", "write_error", "error")
_OPEN_FLAGS = (os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
               | os.O_NONBLOCK)  # O_RDWR: the last byte is read back; O_NONBLOCK: a FIFO must not block
FILE_MODE = 0o600


@dataclass(frozen=True)
class CaptureSettings:
    path: Path
    max_bytes: int = 16 * 1024 * 1024
    backups: int = 3
    redact_digits: bool = False
    low_confidence: float = 0.7  # also capture non-escalated queries under this confidence
    queue_size: int = 10_000  # beyond this, captures are dropped (and counted), never blocking requests


class UnsafePath(OSError):
    """The capture path is not a regular file we may write (a symlink, a FIFO, a device)."""


def _check_writable(path: Path) -> None:
    """At start, not on the first record, and by the rules every record is written by: a directory,
    an unwritable path or another user's file was accepted, and then every record was dropped
    (counted, and logged once)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.exists() and not path.is_file():
            raise CaptureError(f"--capture-path {path}: not a regular file")
        os.close(_open_file(path))
    except UnsafePath as exc:
        raise CaptureError(f"--capture-path {path}: {exc.strerror}") from None
    except OSError as exc:
        raise CaptureError(f"--capture-path {path}: cannot write there ({exc.strerror})") from None


def _open_file(path: Path) -> int:
    """The capture file, open for appending: only a regular file of ours with no other name."""
    try:
        fd = os.open(path, _OPEN_FLAGS, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(errno.ELOOP, "it is a symbolic link", str(path)) from None
        if exc.errno == errno.ENXIO:  # a Unix socket
            raise UnsafePath(errno.ENXIO, "it is not a regular file", str(path)) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePath(errno.EINVAL, "it is not a regular file", str(path))
    if st.st_uid != os.geteuid():  # planted by another user (a shared /tmp): they would read every record
        os.close(fd)
        raise UnsafePath(errno.EPERM, "it belongs to another user", str(path))
    if st.st_nlink != 1:  # a hard link to a file elsewhere: records (and a chmod) would land in it
        os.close(fd)
        raise UnsafePath(errno.EPERM, "it is a hard link (the file has other names)", str(path))
    if st.st_mode & 0o077:  # made by an older version, or by hand: customers' words are private
        try:
            os.fchmod(fd, FILE_MODE)
        except OSError as exc:  # our file, and still not ours to make private: not written
            os.close(fd)
            raise UnsafePath(errno.EPERM, f"its mode {stat.S_IMODE(st.st_mode):o} cannot be made 600 "
                                          f"({exc.strerror})", str(path)) from None
    return fd


class CaptureError(IntentdError):
    """The review file cannot be written: refused at start, naming the flag."""


class ReviewCapture:
    def __init__(self, settings: CaptureSettings, on_written: Callable[[], None] | None = None,
                 on_dropped: Callable[[str], None] | None = None):
        """`on_written()` / `on_dropped(reason)`: called once per record, from the writer thread
        (or the caller's, for a full queue); they must be thread-safe (a Prometheus counter is)."""
        if settings.max_bytes < 1024:
            raise ValueError("capture max_bytes must be at least 1024")
        if settings.backups < 0:
            raise ValueError("capture backups must be >= 0")
        self.settings = settings
        _check_writable(settings.path)
        self.written = 0
        self.dropped_by_reason = dict.fromkeys(DROP_REASONS, 0)
        self._on_written = on_written
        self._on_dropped = on_dropped
        self._lock = threading.Lock()  # counts change on two threads
        self._failing: str | None = None  # the failure last logged; one line per episode, not per record
        self._queue: queue.Queue[tuple[str, Analysis, str] | None] = queue.Queue(maxsize=settings.queue_size)
        self._thread = threading.Thread(target=self._writer, name="review-capture", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by_reason.values())

    def wants(self, analysis: Analysis) -> bool:
        """Escalated, or a guess the model was unsure of. A follow-up ("make it 75") is answered by
        the follow-up rule, not the model's guess, whose low confidence on a fragment says nothing:
        it is captured only when escalated, with what it followed (its text alone is no example)."""
        if analysis.escalation.escalate:
            return True
        return analysis.follow_up is None and analysis.prediction.confidence < self.settings.low_confidence

    def offer(self, text: str, analysis: Analysis, session_id: str | None = None) -> bool:
        """Queue one record if the analysis is worth a person's look; True when queued (it is
        counted as written or dropped once the writer has tried)."""
        if not self.wants(analysis):
            return False
        captured_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        try:
            self._queue.put_nowait((text, analysis, captured_at, session_id))
            return True
        except queue.Full:
            self._drop("queue_full")
            return False

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (within `timeout`), then stop the writer."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("review capture: writer stalled; %d queued records not written", self._queue.qsize())
            return
        self._thread.join(timeout)

    # -- the writer thread -----------------------------------------------------------------------

    def _writer(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                line = (json.dumps(self._record(*item), ensure_ascii=False).translate(_ESCAPED) + "\n").encode("utf-8")
            except Exception:  # a bug: say so loudly, keep the writer alive
                log.exception("review capture: cannot build a record")
                self._drop("error")
                continue
            try:
                self._append(line)
            except UnsafePath as exc:
                self._failed("unsafe_path", f"refusing to write {self.settings.path}: {exc.strerror}")
            except OSError as exc:  # a full disk must not take the service down
                self._failed("write_error", f"cannot write {self.settings.path}: {exc.strerror or exc}")
            else:
                self._wrote()

    def _record(self, text: str, analysis: Analysis, captured_at: str, session_id: str | None = None) -> dict:
        p, esc = analysis.prediction, analysis.escalation
        redacting = self.settings.redact_digits
        spans = [(e.start, e.end) for e in analysis.entities] if not p.is_ood else []
        if redacting:
            text, spans = redact(text, spans)
        record: dict = {"text": text}
        if p.is_ood:
            record["ood"] = True
        else:
            record["intent"] = p.intent
            if spans:
                record["entities"] = [{"start": s, "end": e, "type": ent.type}
                                      for (s, e), ent in zip(spans, analysis.entities)]
        record["meta"] = {
            "captured_at": captured_at,
            "model_version": analysis.model_version,
            "reason": esc.reason or "low_confidence_unescalated",
            "tier": esc.tier,
            "confidence": round(p.confidence, 4),
            "ood_score": round(p.ood_score, 4),
            "top_intents": [[n, round(c, 4)] for n, c in p.intents[:3]],
            "redacted": redacting,
        }
        if analysis.follow_up is not None:
            record["meta"]["follow_up"] = {"kind": analysis.follow_up.kind, "intent": analysis.follow_up.intent}
        if session_id:  # a caller may use a phone number or an address as its session id
            record["meta"]["session_id"] = redact(session_id, [])[0] if redacting else session_id
        return record

    def _append(self, line: bytes) -> None:
        fd = self._open_locked()
        try:
            size = os.fstat(fd).st_size
            if size and size + len(line) > self.settings.max_bytes:
                self._rotate()  # under the lock of the file rotated away
                os.close(fd)
                fd = -1
                fd = self._open_locked()
                size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # someone saved it without a final newline
                line = b"\n" + line
            _write_whole(fd, line, size)
        finally:
            if fd >= 0:
                os.close(fd)

    def _open_locked(self) -> int:
        """The file at the path, open and locked against the other processes writing it. One that
        was rotated away while we waited for its lock is let go, and the path opened again."""
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _still_at(fd, self.settings.path):
                    return fd
            except OSError:
                os.close(fd)
                raise
            os.close(fd)

    def _open(self) -> int:
        return _open_file(self.settings.path)

    def _rotate(self) -> None:
        """review.jsonl -> .1 -> .2 ...; renames move links themselves, never what they point at."""
        path, n = self.settings.path, self.settings.backups
        if n == 0:
            path.unlink(missing_ok=True)
            return
        path.with_name(f"{path.name}.{n}").unlink(missing_ok=True)
        for i in range(n - 1, 0, -1):
            try:
                os.rename(path.with_name(f"{path.name}.{i}"), path.with_name(f"{path.name}.{i + 1}"))
            except FileNotFoundError:
                pass
        os.rename(path, path.with_name(f"{path.name}.1"))

    # -- counting and logging --------------------------------------------------------------------

    def _wrote(self) -> None:
        with self._lock:
            self.written += 1
        if self._failing is not None:
            log.info("review capture: writing to %s again", self.settings.path)
            self._failing = None
        if self._on_written is not None:
            self._on_written()

    def _failed(self, reason: str, message: str) -> None:
        if self._failing != message:
            log.warning("review capture: %s; records are dropped (and counted) until it works again", message)
            self._failing = message
        self._drop(reason)

    def _drop(self, reason: str) -> None:
        with self._lock:
            self.dropped_by_reason[reason] += 1
        if self._on_dropped is not None:
            self._on_dropped(reason)


def _still_at(fd: int, path: Path) -> bool:
    """Whether the open file is still the one at `path`, not rotated away."""
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except FileNotFoundError:  # rotated away, and no new file made yet
        return False


def _write_whole(fd: int, line: bytes, size: int) -> None:
    """All of `line`, or nothing: after a partial write the file is cut back to `size`."""
    view = memoryview(line)
    try:
        while view:
            n = os.write(fd, view)
            if n <= 0:
                raise OSError(errno.EIO, "write made no progress")
            view = view[n:]
    except OSError:
        try:
            os.ftruncate(fd, size)
        except OSError as exc:
            log.warning("review capture: cannot cut back a partial record (%s)", exc.strerror)
        raise
