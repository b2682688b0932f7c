"""The supervisor's view of its workers' metric files (`serve --workers N`, prometheus-client's
multiprocess mode): one /metrics for all of them, and a dead worker's files folded away.

A worker's counters and histograms must keep counting after it dies (a counter that falls is a
reset to Prometheus, and its rate() would read the dead worker's whole count as new traffic),
so prometheus-client keeps each dead process's files for good: about 40 KB, and 0.4 ms more on
every scrape, a restart; a crash loop filled a small /tmp. Here a dead worker's counters and
histograms are added into one file per type (``counter_retired.db``, ...) and its own files
removed, under the lock every scrape takes, so no scrape sees them counted twice or not at all.
Its live gauges (queue depth, streams open...) are removed outright, as prometheus-client does.
"""

from __future__ import annotations

import os
import threading

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict

#: File types whose values add up across processes (gauges here are all live-mode: per process).
ADDING = ("counter", "histogram", "summary")
RETIRED = "retired"  # the pid part of the file that holds the dead workers' sums


class WorkerMetrics:
    """A collector for the folder the workers write into, and ``retire`` for one that died."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._files = multiprocess.MultiProcessCollector(None, folder)
        self._lock = threading.Lock()

    def collect(self):
        with self._lock:  # all of a scrape's files before or after a fold, never between
            return list(self._files.collect())

    def retire(self, pid: int) -> None:
        """Fold the files of the dead worker ``pid`` into the retired sums, and remove them."""
        multiprocess.mark_process_dead(pid, self.folder)
        for kind in ADDING:
            dead = os.path.join(self.folder, f"{kind}_{pid}.db")
            if os.path.exists(dead):
                with self._lock:
                    self._fold(dead, os.path.join(self.folder, f"{kind}_{RETIRED}.db"))

    @staticmethod
    def _fold(dead: str, retired: str) -> None:
        """Add ``dead``'s values into ``retired``, written whole under another name and then
        renamed over it (a crash in between leaves the sums as they were), then remove ``dead``."""
        staged = retired + ".new"  # not *.db: no scrape reads it
        try:
            with open(retired, "rb") as source, open(staged, "wb") as target:
                target.write(source.read())
        except FileNotFoundError:
            pass
        sums = MmapedDict(staged)
        try:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(dead):
                total, _ = sums.read_value(key)
                sums.write_value(key, total + value, timestamp)
        finally:
            sums.close()
        os.replace(staged, retired)
        os.remove(dead)
