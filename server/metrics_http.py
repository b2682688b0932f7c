"""The /metrics endpoint, bounded: it runs in the serving process, so a client of it must not be
able to take that process's threads, nor stop its stop.

prometheus-client's own server gave each connection a thread with no read timeout: 400
connections that sent half a request held 400 threads, for as long as they stayed. Here at most
MAX_HANDLERS connections are served at once, each request read within READ_TIMEOUT_S (whole, not
per read: a client dripping a byte a second is cut off too), and a connection that finds them
all busy for ACCEPT_WAIT_S is closed. A client that keeps the handlers busy can deny the scrapes
while it does, never the serving; and a page is still rendered at each request, under the GIL
the event loop needs (scraped 146 times a second, the Analyze p95 went from 9.6 to 22.5 ms):
the port is for the scraper only (docs/deploy.md's NetworkPolicy).
"""

from __future__ import annotations

import socket
import socketserver
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app

MAX_HANDLERS = 4
READ_TIMEOUT_S = 2.0  # for a whole request: a scraper sends it at once
ACCEPT_WAIT_S = 0.5


class _Handler(WSGIRequestHandler):
    timeout = READ_TIMEOUT_S  # a connection that sends nothing more is closed, its thread freed

    def setup(self):
        super().setup()
        # the whole request within READ_TIMEOUT_S, not each read: one that drips a byte a second
        # held its thread (and, four of them, the endpoint) for good
        self._cut = threading.Timer(READ_TIMEOUT_S, self._hang_up)
        self._cut.daemon = True
        self._cut.start()

    def parse_request(self):
        self._cut.cancel()  # read whole: what is left is the answer
        return super().parse_request()

    def finish(self):
        self._cut.cancel()
        super().finish()

    def _hang_up(self):
        try:
            self.connection.shutdown(socket.SHUT_RDWR)  # the blocked read returns, the thread ends
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # one line a scrape is noise; a failing scraper sees its own errors


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # the backlog that waits for a handler (socketserver's 5 left connects hanging)

    def __init__(self, address, family: int):
        self.address_family = family
        self._slots = threading.BoundedSemaphore(MAX_HANDLERS)
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        # the accepting thread waits a little for a free handler, never for good: `shutdown()`
        # (the server's stop) waits for this thread, and four held connections stopped the stop
        if not self._slots.acquire(timeout=ACCEPT_WAIT_S):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def start_metrics_server(host: str, port: int, registry: CollectorRegistry) -> _Server:
    """Serve `registry` on http://host:port/metrics from a daemon thread; returns the server
    (`.server_port`, `.shutdown()`). Raises OSError when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = _Server((host.strip("[]"), port), family)
    server.set_app(make_wsgi_app(registry))
    threading.Thread(target=server.serve_forever, name="intentd-metrics-http", daemon=True).start()
    return server
