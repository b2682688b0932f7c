"""A forward pass that hangs: health stops saying SERVING, the requests it holds up are answered
UNAVAILABLE, new ones are refused, and the server serves again once the pass returns.

The model is held the way a running batch holds it (`Batcher.hold`): from the server's side that
is what a hung onnxruntime call looks like, the slot taken and never given back."""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from intentd.protogen import import_stubs
from intentd.server.config import ConfigError, Settings
from intentd.server.workers import _Beat, _hung, _loop_pass, _stamp

HANG_S = 15.0  # --hang-timeout's default

from servers import ThreadServer, code_of, wait_for

pb2, pb2_grpc = import_stubs()
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def health_of(server: ThreadServer, service: str = "") -> int:
    return health_pb2_grpc.HealthStub(server.channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                            timeout=5).status


def detect(server: ThreadServer, text: str):
    return server.stub.DetectIntent.future(pb2.DetectIntentRequest(text=text))  # no deadline: it would wait for good


def test_a_hung_forward_pass_turns_health_off_and_answers_what_waits(banking_artifact):
    with ThreadServer(model=banking_artifact, cache_size=0, stall_timeout=1.0) as server:
        assert detect(server, "what is my balance").result(timeout=30).intents
        assert health_of(server) == SERVING
        beat = _Beat()
        server.loop.call_soon_threadsafe(_stamp, beat, server.app)  # a --workers worker's signs of life
        wait_for(lambda: beat.loop > 0, "the first stamp")

        release = server.hold_model()
        waiting = detect(server, "transfer 50 dollars to savings")
        wait_for(lambda: health_of(server) == NOT_SERVING, "health NOT_SERVING")
        assert health_of(server, "intentd.v1.IntentService") == NOT_SERVING
        # what waited behind the pass is answered, not left hanging; new requests are refused at once
        with pytest.raises(grpc.RpcError) as held_up:
            waiting.result(timeout=5)
        assert held_up.value.code() == grpc.StatusCode.UNAVAILABLE and "stalled" in held_up.value.details()
        assert code_of(detect(server, "block my card")) == grpc.StatusCode.UNAVAILABLE
        assert server.metric("intentd_inference_stalled") == 1
        assert server.metric("intentd_shed_total", {"reason": "stalled"}) >= 1
        # a stalled worker says since when its pass has held the model: its supervisor kills it that
        # long past --stall-timeout, saying its model has stalled (it said its loop had not run)
        wait_for(lambda: beat.model > 0, "the stall told")
        assert _hung(beat, beat.model + 1.0 + HANG_S - 0.5, 1.0, HANG_S) == ""
        assert _hung(beat, beat.model + 1.0 + HANG_S + 0.5, 1.0, HANG_S).startswith("its model has stalled")
        assert _hung(beat, beat.model + 3600, 0, HANG_S) == ""  # --stall-timeout 0: a pass may take any time
        stalled_stamp = beat.loop

        release.set()  # the pass returns
        wait_for(lambda: health_of(server) == SERVING, "health SERVING again")
        assert detect(server, "block my card").result(timeout=30).intents[0].name == "block_card"
        assert server.metric("intentd_inference_stalled") == 0
        wait_for(lambda: beat.loop > stalled_stamp and beat.model == 0, "stamps again, no stall")


def test_a_pass_shorter_than_the_timeout_is_not_a_stall(banking_artifact):
    with ThreadServer(model=banking_artifact, cache_size=0, stall_timeout=3.0) as server:
        release = server.hold_model()
        waiting = detect(server, "what is my balance")
        time.sleep(1.5)
        assert health_of(server) == SERVING and not waiting.done()
        release.set()
        assert waiting.result(timeout=30).intents
        assert server.metric("intentd_inference_stalled") == 0


def test_stall_timeout_is_checked():
    with pytest.raises(ConfigError, match="--stall-timeout must be 0 or more"):
        Settings(model="m", stall_timeout=-1)
    assert Settings(model="m", stall_timeout=0).stall_timeout == 0  # 0: never
    for wrong in (0, -1, 0.3):  # under two heartbeats: healthy workers killed in a loop (NaN: not finite)
        with pytest.raises(ConfigError, match="--hang-timeout must be at least 2 s"):
            Settings(model="m", hang_timeout=wrong)


def test_the_end_of_a_long_pass_on_the_loop_is_no_hung_loop():
    """A pass the loop ran past --hang-timeout cleared its mark before the loop stamped again: a
    supervisor poll in between read "its event loop has not run for 20 s" and killed the worker."""
    beat = _Beat()
    started = time.monotonic() - HANG_S - 5.0
    beat.loop = started  # the loop's last stamp, just before it began the pass
    _loop_pass(beat, started)
    assert _hung(beat, time.monotonic(), 0.0, HANG_S) == ""  # --stall-timeout 0: never
    _loop_pass(beat, 0.0)  # the pass returns; the loop has not stamped yet
    assert _hung(beat, time.monotonic(), 0.0, HANG_S) == ""
