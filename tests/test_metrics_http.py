"""The /metrics endpoint runs in the serving process: a client of it cannot hold that process's
threads (prometheus-client's own server gave each connection one, with no read timeout)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

from prometheus_client import CollectorRegistry, Counter

from intentd.server.metrics_http import MAX_HANDLERS, READ_TIMEOUT_S, start_metrics_server


def test_half_sent_requests_hold_a_bounded_number_of_threads_for_a_bounded_time():
    registry = CollectorRegistry()
    Counter("intentd_test_total", "a counter", registry=registry).inc(3)
    server = start_metrics_server("127.0.0.1", 0, registry)
    try:
        before = threading.active_count()
        stalled = [socket.create_connection(("127.0.0.1", server.server_port), timeout=5) for _ in range(8)]
        for sock in stalled:
            sock.sendall(b"GET /metr")  # and nothing more
        time.sleep(1.0)
        assert threading.active_count() <= before + MAX_HANDLERS  # 8 more with prometheus-client's server
        started = time.monotonic()
        page = urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=60).read().decode()
        waited = time.monotonic() - started
        assert "intentd_test_total 3.0" in page
        assert waited < (8 / MAX_HANDLERS + 1) * READ_TIMEOUT_S  # each stalled one read for READ_TIMEOUT_S at most
        for sock in stalled:
            sock.close()
    finally:
        server.shutdown()
