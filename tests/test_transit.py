"""A caller's send-time stamp (x-request-start), or its deadline: the wait before the handler counts
against the budget."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from intentd.protogen import import_stubs
from intentd.server.transit import (MAX_DISAGREEING, PAUSE_S, QUIET_AFTER_S, RECENT, TRUST_AFTER, DeadlineClock,
                                   TransitClock, parse_stamp)

from servers import ThreadServer, wait_for

pb2, pb2_grpc = import_stubs()
NOW = 1_764_900_000.25  # an instant in 2025, in seconds since the epoch


@pytest.mark.parametrize("value", [f"t={NOW}", f"{NOW}", f"t={NOW * 1e3:.0f}", f"t={NOW * 1e6:.0f}",
                                   f"t={NOW * 1e9:.0f}", f" t={NOW * 1e6:.0f} "])
def test_a_stamp_is_read_in_whatever_unit_its_magnitude_says(value):
    assert parse_stamp(value) == pytest.approx(NOW, abs=1e-3)


@pytest.mark.parametrize("value", ["", "t=", "soon", "t=-5", "0", "nan", "inf", "t=1e30"])
def test_an_unreadable_stamp_is_none(value):
    assert parse_stamp(value) is None


def test_a_connections_clock_offset_cancels_and_only_the_wait_above_its_floor_counts():
    clock = TransitClock(window_s=60)
    skew = 3.0  # this caller's clock is 3 s behind the server's: every lag reads 3 s too long
    assert clock.excess("a", skew + 0.002, now=0.0) == 0.0  # a connection's first request counts nothing
    assert clock.excess("a", skew + 0.001, now=1.0) == 0.0  # nor its second
    assert clock.excess("a", skew + 0.001, now=1.5) == 0.0  # a new floor
    assert clock.excess("a", skew + 0.031, now=2.0) == pytest.approx(0.030)
    assert clock.excess("b", 0.040, now=2.0) == 0.0  # another connection has its own floor
    # the floor of the window before still holds in the next one, then is forgotten
    assert clock.excess("a", skew + 0.011, now=61.0) == pytest.approx(0.010)
    assert clock.excess("a", skew + 0.011, now=122.0) == pytest.approx(0.0)
    # a connection silent for two windows starts again
    assert clock.excess("a", skew + 0.500, now=300.0) == 0.0


def test_a_callers_clock_set_back_restarts_its_floor_instead_of_shedding_its_requests():
    clock = TransitClock(window_s=60)
    clock.excess("a", 0.001, now=0.0)
    for now in (1.0, 1.5):
        clock.excess("a", -4.999, now=now)  # the caller's clock ran 5 s ahead: a new, lower floor
    assert clock.excess("a", 0.002, now=2.0) == 0.0  # set back: 5 s is no queue, the floor restarts
    assert clock.excess("a", 0.002, now=2.5) == 0.0
    assert clock.excess("a", 0.012, now=3.0) == pytest.approx(0.010)


def test_one_stamp_ahead_of_the_callers_clock_is_not_the_connections_floor():
    """One stamp 0.9 s ahead (a clock that jumped, a forged header) was the connection's floor:
    every honest call after it read as a 0.9 s wait for one to two minutes."""
    clock = TransitClock(window_s=60)
    for now in (0.0, 1.0):
        clock.excess("a", 0.002, now=now)
    assert clock.excess("a", -0.898, now=2.0) == 0.0
    assert clock.excess("a", 0.002, now=3.0) == 0.0
    assert clock.excess("a", 0.012, now=4.0) == pytest.approx(0.010)
    # nor when it is the connection's first
    for now, lag in enumerate((-0.898, 0.002, 0.002)):
        assert clock.excess("b", lag, now=float(now)) == 0.0
    assert clock.excess("b", 0.012, now=3.0) == pytest.approx(0.010)


def test_the_table_of_connections_stays_bounded():
    clock = TransitClock(window_s=60, max_connections=8)
    for i in range(100):
        clock.excess(f"peer-{i}", 0.001, now=float(i) * 200)  # each new one finds the others stale
    assert len(clock._floors) <= 8
    for i in range(100):
        clock.excess(f"busy-{i}", 0.001, now=50_000.0)  # all recent: cleared rather than grown
    assert len(clock._floors) <= 8


QUIET, BUSY = 1.0, 0.0  # how long the server had been idle when a call was read


def test_a_connections_deadlines_are_its_clock_once_they_agree_on_an_idle_server():
    clock = DeadlineClock()
    # calls read by a busy server build no trust: their shortfall may be a real wait; nor do calls
    # read just as it fell idle (it may have been sending answers while they waited)
    for i in range(2 * TRUST_AFTER):
        assert clock.waited_s("a", 1.0, BUSY if i % 2 else QUIET_AFTER_S / 2) is None
    for i in range(TRUST_AFTER - 1):
        assert clock.waited_s("a", 1.0, QUIET) is None
    assert clock.waited_s("a", 1.0, QUIET) == 0.0
    # from now on the shortfall from the usual time left is the wait, busy or not
    assert clock.waited_s("a", 0.92, BUSY) == pytest.approx(0.08)
    assert clock.waited_s("b", 0.5, BUSY) is None  # another connection or method: its own
    # a timeout gRPC rounded up a step waited nothing, and does not become the usual
    assert clock.waited_s("a", 1.01, QUIET) == 0.0
    assert clock.waited_s("a", 0.95, BUSY) == pytest.approx(0.05)
    # one pause of the whole process (an idle server's loop held up) does not end the trust
    assert clock.waited_s("a", 0.9, QUIET) == pytest.approx(0.1)
    assert clock.waited_s("a", 0.95, BUSY) == pytest.approx(0.05)


def test_a_whole_second_sent_as_itself_is_not_a_wait():
    clock = DeadlineClock()
    for _ in range(TRUST_AFTER):  # grpcio's Python client: 1 s arrives as 1.010 s on most calls ...
        clock.waited_s("py", 1.0098, QUIET)
    assert clock.waited_s("py", 0.9997, BUSY) == 0.0  # ... and as 1.000 s on a few
    assert clock.waited_s("py", 0.9898, BUSY) == pytest.approx(0.02)  # a wait is still a wait
    for _ in range(TRUST_AFTER):
        clock.waited_s("py30", 30.0998, QUIET)
    assert clock.waited_s("py30", 29.9996, BUSY) == 0.0
    for _ in range(TRUST_AFTER):  # under a second, timeouts travel to the millisecond
        clock.waited_s("short", 0.5, QUIET)
    assert clock.waited_s("short", 0.49, BUSY) == pytest.approx(0.01)


def test_a_shortfall_past_a_second_is_another_deadline_not_a_wait():
    """A caller with 5 s calls and then 0.3 s ones on one method: the 0.3 s calls read as 4.7 s
    waits (transit_us 4,710,217 on a call whose deadline was 300 ms), and one was shed as one."""
    clock = DeadlineClock()
    for _ in range(TRUST_AFTER):
        clock.waited_s("mixed", 5.0, QUIET)
    assert clock.waited_s("mixed", 0.3, BUSY) is None
    assert clock.waited_s("mixed", 4.2, BUSY) == pytest.approx(0.8)  # under a second: still read as a wait


def test_a_connection_whose_deadlines_vary_is_not_judged_by_them():
    clock = DeadlineClock()
    for _ in range(TRUST_AFTER):
        clock.waited_s("gateway", 1.0, QUIET)
    # an idle server did not keep these calls waiting: this caller's deadlines vary
    for remaining in (0.7, 0.45, 0.9):
        clock.waited_s("gateway", remaining, QUIET)
    assert clock.waited_s("gateway", 0.9, BUSY) is None
    # ... until at most MAX_DISAGREEING of its last RECENT quiet calls did
    for _ in range(RECENT - MAX_DISAGREEING - 1):
        assert clock.waited_s("gateway", 1.0, QUIET) is None
    assert clock.waited_s("gateway", 1.0, QUIET) == 0.0
    # deadlines a little apart (under PAUSE_S) are read as one clock
    for i in range(TRUST_AFTER):
        clock.waited_s("jitter", 1.0 - (i % 2) * PAUSE_S * 0.8, QUIET)
    assert clock.waited_s("jitter", 0.95, BUSY) == pytest.approx(0.05)


def test_the_table_of_deadline_clocks_stays_bounded():
    clock = DeadlineClock(max_connections=8)
    for i in range(100):
        clock.waited_s(f"peer-{i}", 1.0, QUIET)
    assert len(clock._known) == 8 and "peer-99" in clock._known


@pytest.fixture()
def slo_server(banking_artifact):
    with ThreadServer(model=banking_artifact, cache_size=0, slo_p95_ms=25) as srv:
        yield srv


def stamped(seconds_ago: float) -> tuple[tuple[str, str]]:
    return (("x-request-start", f"t={(time.time() - seconds_ago) * 1e6:.0f}"),)


def test_a_request_whose_wait_spent_its_budget_is_shed_by_a_busy_server_and_answered_by_an_idle_one(slo_server):
    stub = slo_server.stub
    # the connection's floor: requests stamped as they are sent, once the connection is up
    for _ in range(3):
        stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), metadata=stamped(0.0), timeout=30)
    release = slo_server.hold_model()
    try:
        with pytest.raises(grpc.RpcError) as shed:
            stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), metadata=stamped(0.080), timeout=30)
    finally:
        release.set()
    assert shed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "before the server could read it" in shed.value.details()
    assert slo_server.metric("intentd_shed_total", {"reason": "waited"}) == 1
    # an idle server answers it: shedding it would spare no one any work
    wait_for(lambda: slo_server.app.runner.idle, "the model to be free")
    reply = stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), metadata=stamped(0.080), timeout=30)
    assert reply.intents[0].name == "check_balance"
    assert reply.timing.transit_us >= 60_000  # the wait it reports: the stamp less the connection's floor
    # a stamp that cannot be read is ignored, not an error
    reply = stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), metadata=(("x-request-start", "soon"),),
                         timeout=30)
    assert reply.intents[0].name == "check_balance" and reply.timing.transit_us == 0
    assert slo_server.metric("intentd_transit_seconds_count", {"by": "stamp"}) == 5
    assert slo_server.metric("intentd_shed_total", {"reason": "waited"}) == 1


def test_one_stamp_ahead_does_not_make_a_busy_server_shed_the_honest_calls_after_it(slo_server):
    stub = slo_server.stub
    request = pb2.AnalyzeRequest(text="what is my balance")
    for _ in range(3):
        stub.Analyze(request, metadata=stamped(0.0), timeout=30)
    stub.Analyze(request, metadata=stamped(-0.9), timeout=30)  # 0.9 s ahead of the server's clock
    release = slo_server.hold_model()
    try:
        call = stub.Analyze.future(request, metadata=stamped(0.0), timeout=30)
        wait_for(lambda: call.done() or slo_server.metric("intentd_requests_in_progress") == 1, "its admission")
    finally:
        release.set()
    assert call.result().intents[0].name == "check_balance"
    assert slo_server.metric("intentd_shed_total", {"reason": "waited"}) == 0
    assert stub.Analyze(request, metadata=stamped(0.0), timeout=30).timing.transit_us < 100_000


def block_event_loop(server, seconds: float) -> None:
    """Keep the server's event loop busy for `seconds` from now, as a flood of calls would: calls
    sent meanwhile wait in gRPC's core before any of intentd's code sees them."""
    blocked = threading.Event()

    def block() -> None:
        blocked.set()
        time.sleep(seconds)
    server.loop.call_soon_threadsafe(block)
    assert blocked.wait(5)


def test_a_call_that_waited_for_the_event_loop_is_shed_by_its_deadline_without_a_stamp(slo_server):
    request = pb2.AnalyzeRequest(text="what is my balance")
    stub = slo_server.stub
    # one by one on an idle server: the same timeout, the same time left (gRPC sends a timeout
    # under a second to the millisecond, 1-10 s in 10 ms steps)
    for _ in range(TRUST_AFTER):
        time.sleep(5 * QUIET_AFTER_S)
        stub.Analyze(request, timeout=0.9)
    release = slo_server.hold_model()
    try:
        block_event_loop(slo_server, 0.08)
        with pytest.raises(grpc.RpcError) as shed:
            stub.Analyze(request, timeout=0.9)
    finally:
        release.set()
    assert shed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "before the server could read it" in shed.value.details()
    assert slo_server.metric("intentd_shed_total", {"reason": "waited"}) == 1
    # an idle server answers such a call, and says how long it waited
    wait_for(lambda: slo_server.app.runner.idle, "the model to be free")
    block_event_loop(slo_server, 0.08)
    reply = stub.Analyze(request, timeout=0.9)
    assert reply.intents[0].name == "check_balance" and reply.timing.transit_us >= 40_000
    assert slo_server.metric("intentd_transit_seconds_count", {"by": "deadline"}) == 3
    assert slo_server.metric("intentd_transit_seconds_count", {"by": "stamp"}) == 0


def test_a_caller_whose_deadlines_vary_is_not_shed_for_them(slo_server):
    request = pb2.AnalyzeRequest(text="what is my balance")
    stub = slo_server.stub
    for i in range(TRUST_AFTER + MAX_DISAGREEING + 1):  # a gateway's deadlines, on an idle server
        time.sleep(5 * QUIET_AFTER_S)
        stub.Analyze(request, timeout=0.9 - 0.05 * (i % 5))
    release = slo_server.hold_model()
    try:
        call = stub.Analyze.future(request, timeout=0.85)
        time.sleep(0.1)
    finally:
        release.set()
    assert call.result().intents[0].name == "check_balance"
    assert slo_server.metric("intentd_shed_total", {"reason": "waited"}) == 0
    assert slo_server.metric("intentd_transit_seconds_count", {"by": "deadline"}) == 0


def test_callers_on_the_unix_socket_do_not_share_a_clock_floor(banking_artifact, tmp_path):
    """gRPC names every Unix-socket caller `unix:`: one stamping its calls half a second ahead
    must not make another's honest stamps read as half-second waits (and be shed)."""
    sock = tmp_path / "intentd.sock"
    request = pb2.AnalyzeRequest(text="what is my balance")
    with ThreadServer(model=banking_artifact, cache_size=0, slo_p95_ms=25, uds=sock) as srv:
        with grpc.insecure_channel(f"unix:{sock}") as ahead, grpc.insecure_channel(f"unix:{sock}") as honest:
            liar, caller = pb2_grpc.IntentServiceStub(ahead), pb2_grpc.IntentServiceStub(honest)
            for _ in range(3):
                liar.Analyze(request, metadata=stamped(-0.5), timeout=30)
            replies = [caller.Analyze(request, metadata=stamped(0.0), timeout=30) for _ in range(3)]
            assert all(r.intents[0].name == "check_balance" for r in replies)
            assert max(r.timing.transit_us for r in replies) < 20_000
            # a stamp 40 ms old on the same host's clock is a 40 ms wait, first call or not
            late = caller.Analyze(request, metadata=stamped(0.040), timeout=30)
            assert 40_000 <= late.timing.transit_us < 60_000
            # nor a deadline clock: a caller with 1 s timeouts beside one with 100 ms ones would
            # read each of the latter's calls as a 900 ms wait
            for timeout in (1.0, 0.1) * TRUST_AFTER:
                time.sleep(5 * QUIET_AFTER_S)
                (liar if timeout == 1.0 else caller).Analyze(request, timeout=timeout)
            assert srv.metric("intentd_transit_seconds_count", {"by": "deadline"}) == 0


def test_deadline_waits_can_be_turned_off(banking_artifact):
    request = pb2.AnalyzeRequest(text="what is my balance")
    with ThreadServer(model=banking_artifact, cache_size=0, slo_p95_ms=25, deadline_wait=False) as server:
        for _ in range(TRUST_AFTER):
            time.sleep(5 * QUIET_AFTER_S)
            server.stub.Analyze(request, timeout=0.9)
        block_event_loop(server, 0.08)
        reply = server.stub.Analyze(request, timeout=0.9)
        assert reply.intents[0].name == "check_balance" and reply.timing.transit_us == 0
        assert server.metric("intentd_transit_seconds_count", {"by": "deadline"}) == 0
