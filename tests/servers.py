"""A real server on its own event loop in a thread, for tests that talk to it over gRPC."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc

from intentd.protogen import import_stubs
from intentd.server.app import App
from intentd.server.config import Settings

pb2, pb2_grpc = import_stubs()
WAIT_S = 60  # generous bounds for waits on conditions; never asserted as latency


class ThreadServer:
    """`App` on its own event loop in a thread, listening on an ephemeral loopback port."""

    def __init__(self, **overrides):
        self.app = App(Settings(**{"listen": "127.0.0.1:0", "warm_up": False, **overrides}))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.rc: int | None = None
        self.held_calls: list = []

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.rc = self.loop.run_until_complete(self.app.run())

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.app.started.wait(), self.loop).result(WAIT_S)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.app.port}")
        self.stub = pb2_grpc.IntentServiceStub(self.channel)
        return self

    def __exit__(self, *exc) -> None:
        self.channel.close()
        self.loop.call_soon_threadsafe(self.app.request_stop)
        self.thread.join(WAIT_S)
        self.loop.close()

    def metric(self, name: str, labels: dict | None = None) -> float:
        return self.app.metrics.value(name, labels)

    def block_inference(self) -> threading.Event:
        """Occupy the single inference worker so requests queue; set() the event to release it."""
        release = threading.Event()
        self.app.runner._infer_pool.submit(release.wait, WAIT_S)
        return release

    def hold_a_batch(self) -> threading.Event:
        """Block the worker and put one request in the held batch, so the next ones stay queued."""
        release = self.block_inference()
        # keep the call object: a dropped grpc future cancels its RPC when garbage-collected
        self.held_calls.append(
            self.stub.Analyze.future(pb2.AnalyzeRequest(text=f"held batch {time.monotonic()}"), timeout=WAIT_S))
        wait_for(lambda: self.app.runner._batches and not self.app.runner.queued, "a batch to be held")
        return release


def code_of(call) -> grpc.StatusCode:
    """The status of a finished future-style call (OK when it succeeded)."""
    try:
        call.result()
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
