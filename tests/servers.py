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
        # no SLO unless a test asks: a slow test machine must not turn into shed requests; nor
        # a model a test holds for long into a stall
        self.app = App(Settings(**{"listen": "127.0.0.1:0", "warm_up": False, "slo_p95_ms": 0, "stall_timeout": 0,
                                   **overrides}))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.rc: int | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.rc = self.loop.run_until_complete(self.app.run())

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.app.started.wait(), self.loop).result(WAIT_S)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.app.port}")
        self.stub = pb2_grpc.IntentServiceStub(self.channel)
        admin = self.app.settings.admin_uds
        self.admin_channel = grpc.insecure_channel(f"unix:{admin}") if admin is not None else None
        self.admin = pb2_grpc.IntentServiceStub(self.admin_channel) if admin is not None else None
        return self

    def __exit__(self, *exc) -> None:
        self.channel.close()
        if self.admin_channel is not None:
            self.admin_channel.close()
        self.loop.call_soon_threadsafe(self.app.request_stop)
        self.thread.join(WAIT_S)
        self.loop.close()

    def metric(self, name: str, labels: dict | None = None) -> float:
        return self.app.metrics.value(name, labels)

    def hold_model(self) -> threading.Event:
        """Hold the model (as a running batch would) so requests queue; set() the event to release it."""
        release_fn = asyncio.run_coroutine_threadsafe(self.app.runner.hold(), self.loop).result(WAIT_S)
        release = threading.Event()

        def wait_then_release() -> None:
            release.wait(WAIT_S)
            release_fn()
        threading.Thread(target=wait_then_release, daemon=True).start()
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


def copy_artifact(src, dst, **manifest_changes):
    """A copy of an artifact, its manifest changed and re-versioned as `intentd train` writes it."""
    import json
    import shutil
    from pathlib import Path

    from intentd.models.build import write_manifest

    dst = Path(dst)
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest.update(manifest_changes)
    write_manifest(dst, manifest)
    return dst
