"""The /metrics endpoint runs in the serving process: a client of it cannot hold that process's
threads (prometheus-client's own server gave each connection one, with no read timeout), nor
stop the server's stop."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

from prometheus_client import CollectorRegistry, Counter

from intentd.server.metrics_http import ACCEPT_WAIT_S, MAX_HANDLERS, READ_TIMEOUT_S, start_metrics_server


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    Counter("intentd_test_total", "a counter", registry=reg).inc(3)
    return reg


def test_half_sent_and_dripped_requests_hold_a_bounded_number_of_threads_for_a_bounded_time():
    server = start_metrics_server("127.0.0.1", 0, registry())
    stop = threading.Event()

    def drip(sock: socket.socket) -> None:  # a byte a second: each read is quick, the request never ends
        for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n":
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(1.0)

    try:
        before = threading.active_count()
        held = [socket.create_connection(("127.0.0.1", server.server_port), timeout=5) for _ in range(MAX_HANDLERS)]
        drippers = [threading.Thread(target=drip, args=(sock,), daemon=True) for sock in held]
        for thread in drippers:
            thread.start()
        time.sleep(0.5)
        # each held connection: its handler and its deadline's timer; 8 more with prometheus-client's server
        assert threading.active_count() <= before + len(drippers) + 2 * MAX_HANDLERS
        time.sleep(READ_TIMEOUT_S + 1.0)  # every dripped request is cut off at READ_TIMEOUT_S, whole
        page = urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10).read().decode()
        assert "intentd_test_total 3.0" in page
    finally:
        stop.set()
        server.shutdown()


def test_busy_handlers_never_hold_the_servers_stop():
    """With every handler busy the accepting thread waited for one, and `shutdown()` (the
    server's stop) waited for the accepting thread: a client keeping five connections busy (a
    byte a second) stopped the stop for good."""
    server = start_metrics_server("127.0.0.1", 0, registry())
    held = [socket.create_connection(("127.0.0.1", server.server_port), timeout=5) for _ in range(MAX_HANDLERS + 3)]
    stop = threading.Event()

    def drip() -> None:
        while not stop.is_set():
            for sock in held:
                try:
                    sock.sendall(b"x")
                except OSError:
                    pass
            time.sleep(0.5)

    threading.Thread(target=drip, daemon=True).start()
    try:
        time.sleep(1.0)
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(ACCEPT_WAIT_S + 1.0)
        assert not stopper.is_alive()
    finally:
        stop.set()
        for sock in held:
            sock.close()
