"""Hot reload (the ReloadModel admin RPC, or SIGHUP): load and warm the new model beside the old
one, then swap it in atomically. A failed load keeps the old model serving.

- One reload at a time, and the lock is held until the loading thread ends, whatever the caller
  does: a caller that gives up (deadline, cancel) or a load that outlives `reload_timeout` gets
  an error, the thread finishes in the background, and its model is discarded, never swapped in.
- The loading thread is a daemon: a load stuck on a slow disk cannot hold up shutdown for longer
  than the server waits for it (`loading_ended`). It does wait a while: a process that exits
  while onnxruntime builds a session in another thread is aborted by the C++ runtime (SIGABRT
  instead of exit code 0, for a SIGHUP followed by a SIGTERM).
- ReloadModel loads only from under the model root (the real path, after resolving symbolic
  links), and the artifact loader confines and hashes every file the manifest names. It loads
  the real path it checked, and keeps the path as the caller named it: GetModelInfo shows it, and
  SIGHUP reloads it, so flipping a `current` link and sending SIGHUP serves the link's new target.
  Either way the log line of the reload shows both (`current -> /models/v2`).
- The caller hears which file of the artifact (and which manifest key) failed, never a path or
  a value read from a file; the details go to the server log, so the RPC is neither a
  file-existence oracle nor a way to read files.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Callable

from intentd.errors import IntentdError

from .artifact import ArtifactError
from .engine import Engine
from .errors import ReloadBusy

log = logging.getLogger(__name__)
MAX_LOGGED_PATH_CHARS = 200  # of a path a caller named, in a log line (a 5,000-character one made one such line)


class Reloader:
    def __init__(self, load: Callable[[Path], Engine], on_swap: Callable[[Engine, Engine], None],
                 current: Callable[[], Engine], root: Path, timeout_s: float,
                 count: Callable[[str], None] = lambda outcome: None):
        self._load = load
        self._count = count
        self._on_swap = on_swap
        self._current = current
        self.root = root
        self.timeout_s = timeout_s
        self._busy = False
        self._thread: threading.Thread | None = None  # the latest load's
        self._idle = asyncio.Event()  # set while no reload is in progress: loading, or swapping in what it loaded
        self._idle.set()

    async def idle(self) -> None:
        """Until no reload is in progress (its model swapped in, or refused, or discarded)."""
        await self._idle.wait()

    async def loading_ended(self, timeout: float) -> bool:
        """Whether no loading thread runs, once it has ended or `timeout` seconds have passed."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            await asyncio.to_thread(thread.join, timeout)
        return thread is None or not thread.is_alive()

    def _release(self) -> None:
        self._busy = False
        self._idle.set()

    def resolve(self, requested: str) -> tuple[Path, Path] | None:
        """The artifact folder a ReloadModel request names, as named (made absolute) and as
        resolved, if the resolved one is under the model root."""
        path = Path(requested)
        if not path.is_absolute():
            path = self.root / path
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError, ValueError):  # ValueError: a NUL in the path
            return None
        return (path, real) if real.is_relative_to(self.root) and real.is_dir() else None

    async def reload_request(self, requested: str) -> dict:
        """ReloadModel: only from under the model root; errors without paths to the caller."""
        resolved = self.resolve(requested)
        if resolved is None:
            log.error("reload refused: %s is not an artifact folder under the model root %s", _quoted(requested),
                      self.root)
            return self._failed("not an artifact folder under the server's model root")
        return await self.reload(*resolved)

    async def reload(self, path: Path, real: Path | None = None) -> dict:
        """Load the artifact at `real` (default: where `path` leads now) and serve it as `path`."""
        real = real or path.resolve()
        if self._busy:
            raise ReloadBusy("a reload is already in progress")
        self._busy = True
        self._idle.clear()
        loop = asyncio.get_running_loop()
        loaded: asyncio.Future = loop.create_future()
        wanted = True  # False once the caller got its answer another way (timeout, cancel)

        def settle(engine: Engine | None, error: BaseException | None) -> None:
            if not wanted:  # the caller gave up: nothing will swap it in, the next reload may start
                self._release()
                if engine is not None:
                    log.warning("reload from %s finished after its caller gave up; discarded", _one_line(str(path)))
                return
            if error is not None:
                loaded.set_exception(error)
            else:
                loaded.set_result(engine)

        def work() -> None:
            try:
                engine, error = self._load(real), None
                engine.path = path  # not yet served: the named path is what SIGHUP reloads
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop
                engine, error = None, exc
            try:
                loop.call_soon_threadsafe(settle, engine, error)
            except RuntimeError:  # the loop is gone: the server stopped meanwhile
                pass

        self._thread = threading.Thread(target=work, name="intentd-reload", daemon=True)
        self._thread.start()
        try:
            return await self._swap_when_loaded(loaded, path, real)
        finally:
            # released once the model is swapped in or refused, not when its thread ends: a
            # SIGHUP waiting on `idle` read the served path before a ReloadModel's swap, and
            # put the old artifact back
            if loaded.done():
                self._release()
            else:  # the caller gave up (timeout, cancel): the thread's end releases it
                wanted = False

    async def _swap_when_loaded(self, loaded: asyncio.Future, path: Path, real: Path) -> dict:
        old = self._current()
        try:
            new = await asyncio.wait_for(asyncio.shield(loaded), self.timeout_s)
        except TimeoutError:
            log.error("reload from %s did not finish within %.0f s; still serving %s", _shown(path, real),
                      self.timeout_s, old.version)
            return self._failed(f"the new model did not load within {self.timeout_s:.0f} s", old)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old model serving
            reason = str(exc) if isinstance(exc, (IntentdError, OSError)) else f"{type(exc).__name__}: {exc}"
            log.error("reload from %s failed; still serving %s: %s", _shown(path, real), old.version, _one_line(reason))
            public = f": {exc.public}" if isinstance(exc, ArtifactError) and exc.public else ""
            return self._failed(f"the artifact could not be loaded{public} (details in the server log)", old)
        self._on_swap(old, new)
        self._count("ok")
        log.info("reloaded: %s -> %s (%s, %s)", old.version, new.version, _shown(path, real), new.model.provider)
        return {"ok": True, "error": "", "version": new.version, "previous_version": old.version}

    def _failed(self, reason: str, old: Engine | None = None) -> dict:
        self._count("failed")
        version = (old or self._current()).version
        return {"ok": False, "error": f"reload failed: {reason}", "version": version, "previous_version": version}


def _shown(path: Path, real: Path) -> str:
    """The path as named, and where it led when that differs (a link), on one line (`_one_line`)."""
    return _one_line(str(path) if path == real else f"{path} -> {real}")


def _one_line(text: str) -> str:
    """`text` with its control characters escaped: a folder under the root named with a newline
    forged log lines in "reload from ... failed", and in the reason, which names the file."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _quoted(requested: str) -> str:
    """A path as a caller named it, for a log line: quoted (control characters escaped), and cut."""
    shown = repr(requested)
    if len(shown) <= MAX_LOGGED_PATH_CHARS:
        return shown
    return f"{shown[:MAX_LOGGED_PATH_CHARS]}... ({len(requested)} characters)"
