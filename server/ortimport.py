"""onnxruntime, imported with its telemetry file kept out of the shared temporary folder.

Importing onnxruntime writes `$TMPDIR/.ses` (its telemetry's session file) with O_CREAT|O_TRUNC
and without O_NOFOLLOW, whatever `disable_telemetry_events()` says: on a host without
`fs.protected_symlinks`, a co-tenant's symlink at /tmp/.ses made a server truncate and overwrite
the file it pointed to, with the server's uid. The import runs with TMPDIR set to a private
folder (0700) of its own, removed after; the process's TMPDIR is put back. Every module of
intentd imports onnxruntime through `onnxruntime()`, so the first import is this one.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from types import ModuleType

_lock = threading.Lock()


def onnxruntime() -> ModuleType:
    """The onnxruntime module (imported once, as above)."""
    loaded = sys.modules.get("onnxruntime")
    if loaded is not None:
        return loaded
    with _lock:
        if "onnxruntime" in sys.modules:
            return sys.modules["onnxruntime"]
        private = tempfile.mkdtemp(prefix="intentd-ort-")
        before = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = private
        try:
            import onnxruntime as module
        finally:
            if before is None:
                del os.environ["TMPDIR"]
            else:
                os.environ["TMPDIR"] = before
            shutil.rmtree(private, ignore_errors=True)
        return module
