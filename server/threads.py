"""Worker threads named for the operating system too, so `top -H`, `ps -L` and /proc show which of
intentd's threads is busy (Python before 3.14 names a thread for itself only). `make bench` reads
the names to split the server's CPU between the event loop, the inference thread and the row
helpers."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

_PR_SET_NAME = 15  # prctl(2)
_TASK_COMM_LEN = 15  # bytes of a Linux thread name, without the terminating NUL


def _set_native_name() -> None:
    """The calling thread's Python name, as its Linux name (cut to 15 bytes); elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(_PR_SET_NAME, threading.current_thread().name.encode()[:_TASK_COMM_LEN], 0, 0, 0)
    except (OSError, AttributeError):  # no libc or no prctl: the threads keep the process's name
        pass


def named_pool(workers: int, prefix: str) -> ThreadPoolExecutor:
    """A thread pool whose threads carry `prefix`_N as their Python and native names."""
    return ThreadPoolExecutor(workers, thread_name_prefix=prefix, initializer=_set_native_name)
