"""A caller's send-time stamp (x-request-start): the wait before the handler counts against the budget."""

from __future__ import annotations

import time

import grpc
import pytest

from intentd.protogen import import_stubs
from intentd.server.transit import TransitClock, parse_stamp

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
    assert clock.excess("a", skew + 0.001, now=1.0) == 0.0  # a new floor
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
    clock.excess("a", -4.999, now=1.0)  # the caller's clock ran 5 s ahead: a new, lower floor
    assert clock.excess("a", 0.002, now=2.0) == 0.0  # set back: 5 s is no queue, the floor restarts
    assert clock.excess("a", 0.012, now=3.0) == pytest.approx(0.010)


def test_the_table_of_connections_stays_bounded():
    clock = TransitClock(window_s=60, max_connections=8)
    for i in range(100):
        clock.excess(f"peer-{i}", 0.001, now=float(i) * 200)  # each new one finds the others stale
    assert len(clock._floors) <= 8
    for i in range(100):
        clock.excess(f"busy-{i}", 0.001, now=50_000.0)  # all recent: cleared rather than grown
    assert len(clock._floors) <= 8


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
    wait_for(lambda: slo_server.app.runner._idle, "the model to be free")
    reply = stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), metadata=stamped(0.080), timeout=30)
    assert reply.intents[0].name == "check_balance"
    assert reply.timing.transit_us >= 60_000  # the wait it reports: the stamp less the connection's floor
    # a stamp that cannot be read is ignored, not an error
    reply = stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), metadata=(("x-request-start", "soon"),),
                         timeout=30)
    assert reply.intents[0].name == "check_balance" and reply.timing.transit_us == 0
    assert slo_server.metric("intentd_transit_seconds_count") == 5
    assert slo_server.metric("intentd_shed_total", {"reason": "waited"}) == 1
