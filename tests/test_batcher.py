"""The batcher alone (no gRPC), on the real model: idle requests run at once; batches respect the
size and token bounds and shrink to the oldest request's budget; admission sheds what its budget
cannot cover; every admitted request is answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from intentd.server.analysis import RequestOptions
from intentd.server.batcher import Batcher, batch_sizes_to_warm
from intentd.server.config import Settings
from intentd.server.engine import Engine
from intentd.server.errors import DeadlineUnmeetable, Overloaded
from intentd.server.metrics import Metrics
from intentd.server.planner import RATE_WINDOW_S


@pytest.fixture(scope="module")
def engine(banking_artifact):
    """Warmed as the server warms it before it serves: a cold first request (~65 ms here at times:
    first reads of the resolvers' data) looked to the arrival rate like a pause before the next."""
    engine = Engine.load(banking_artifact)
    engine.warm_up(batch_sizes_to_warm(Settings(model=banking_artifact)))
    return engine


def run(engine, coro_fn, **overrides):
    async def main():
        batcher = Batcher(engine, Settings(model=engine.path, **overrides), Metrics())
        batcher.start()
        try:
            return await coro_fn(batcher)
        finally:
            await batcher.close()
    return asyncio.run(main())


async def queue_then_release(batcher: Batcher, texts: list[str], options=RequestOptions(top_k=1)):
    """Hold the model, queue every text, then let the batcher build its batches from the queue."""
    release = await batcher.hold()
    tasks = [asyncio.create_task(batcher.submit(t, options, None)) for t in texts]
    while batcher.queued < len(texts):
        await asyncio.sleep(0.005)
    release()
    return await asyncio.gather(*tasks)


def n_tokens(engine, text: str) -> int:
    return len(engine.tokenize([text])[0].ids)


def test_idle_request_runs_alone_at_once(engine):
    result = run(engine, lambda b: b.submit("what is my balance", RequestOptions(), None))
    assert result.batch_size == 1 and result.analysis.prediction.intent == "check_balance"


def test_a_quiet_server_runs_the_forward_pass_on_the_loop_and_a_busy_one_on_the_inference_thread(engine):
    async def scenario(batcher: Batcher):
        def on_loop() -> float:
            return batcher.metrics.value("intentd_forward_on_loop_total")

        alone = []
        for i in range(3):  # one a second: nothing else arrives meanwhile
            alone.append(await batcher.submit(f"what is the balance of account {i}", RequestOptions(), None))
            await asyncio.sleep(RATE_WINDOW_S)
        quiet = on_loop()
        burst = await asyncio.gather(*(batcher.submit(f"send {i} euros to my savings account", RequestOptions(),
                                                      None) for i in range(60)))
        return alone, quiet, on_loop() - quiet, burst

    alone, quiet, burst_on_loop, burst = run(engine, scenario, slo_p95_ms=0)  # no shedding: every request answers
    assert quiet == 3 and all(r.analysis.prediction.intent == "check_balance" for r in alone)
    # 60 arrivals within a second: the inference thread computes (the loop stays free to admit)
    assert burst_on_loop <= 1 and all(r.analysis.prediction.intent == "transfer_money" for r in burst)


def test_a_burst_read_one_request_at_a_time_runs_on_the_inference_thread(engine):
    """gRPC reads nothing while the loop computes, so a burst sent into a quiet server is read one
    request at a time, each right after the answer before it, finding nothing queued. Averaged over
    a second the rate looked quiet, and all 16 of a burst ran on the loop in turn, 2-4x past the SLO."""
    async def scenario(batcher: Batcher):
        await asyncio.sleep(RATE_WINDOW_S)  # quiet
        before = batcher.metrics.value("intentd_forward_on_loop_total")
        for i in range(8):  # back to back, as gRPC hands over what it held
            await batcher.submit(f"send {i} euros to my savings account", RequestOptions(), None)
        return batcher.metrics.value("intentd_forward_on_loop_total") - before

    assert run(engine, scenario, slo_p95_ms=0) <= 1  # the first, which found the server quiet


def test_a_pause_restores_the_admit_share(engine):
    """The share an overload cut grows back with the time nothing is in progress, at the first
    arrival after the pause (it grew only with answers in time: ten minutes at a request a second)."""
    async def scenario(batcher: Batcher):
        for _ in range(4000):
            batcher.admit_share.observe(True)
        low = batcher.admit_share.value
        await batcher.submit("what is my balance", RequestOptions(), None)
        await asyncio.sleep(1.0)
        await batcher.submit("what is my balance", RequestOptions(), None)
        return low, batcher.admit_share.value, batcher.metrics.value("intentd_admit_share")

    low, after, gauge = run(engine, scenario)
    assert after > low * 1.15 and gauge == after  # e^(1/5) for the second's pause


def test_an_idle_servers_admit_share_gauge_shows_the_share_the_next_arrival_gets(engine):
    """The gauge kept the share the last late answer left for as long as the server was quiet (a
    dashboard read "still throttled" long after an overload)."""
    async def scenario(batcher: Batcher):
        await batcher.submit("what is my balance", RequestOptions(), None)
        for _ in range(4000):
            batcher.admit_share.observe(True)
        await batcher.submit("what is my balance", RequestOptions(), None)  # in time, after a short pause
        low = batcher.metrics.value("intentd_admit_share")
        await asyncio.sleep(1.0)
        batcher.refresh_gauges()
        return low, batcher.metrics.value("intentd_admit_share"), batcher.admit_share.value

    low, shown, kept = run(engine, scenario)
    assert shown > low * 1.1 and kept == low  # shown as it would be; taken at the next arrival, as before


def test_token_budget_bounds_batches(engine):
    # ~40 tokens each: a 200-token budget fits 5 of them, below the size bound of 8
    texts = [f"please move {i} euros from my checking account to my savings account " * 3 for i in range(24)]
    widths = [n_tokens(engine, t) for t in texts]
    assert 34 <= min(widths) and max(widths) <= 40
    results = run(engine, lambda b: queue_then_release(b, texts), max_batch_size=8, max_batch_tokens=200,
                  slo_p95_ms=0)
    assert all(r.batch_tokens <= 200 for r in results)
    assert max(r.batch_size for r in results) == 200 // max(widths)  # the token budget bound, not the size
    assert all(len(r.analysis.prediction.intents) == 1 for r in results)


def test_size_bound_bounds_batches(engine):
    texts = [f"balance {i}" for i in range(20)]
    results = run(engine, lambda b: queue_then_release(b, texts), max_batch_size=8, max_batch_tokens=4096,
                  slo_p95_ms=0)
    assert max(r.batch_size for r in results) == 8 and sum(1 / r.batch_size for r in results) == pytest.approx(3)


def test_a_queued_call_cancelled_at_its_deadline_expired_and_one_cancelled_before_went_away(engine):
    """gRPC cancels a call when its deadline passes: the queued text was counted as cancelled ("the
    caller went away"), not expired, and a dashboard blamed the callers for the server's wait."""
    async def scenario(batcher: Batcher):
        release = await batcher.hold()
        late = asyncio.create_task(batcher.submit("what is my balance", RequestOptions(), 0.05))
        gone = asyncio.create_task(batcher.submit("block my card", RequestOptions(), 5.0))
        while batcher.queued < 2:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)  # past the first one's deadline
        late.cancel()  # as gRPC does at the deadline
        gone.cancel()  # a caller that hung up in time
        await asyncio.gather(late, gone, return_exceptions=True)
        await asyncio.sleep(0)
        release()
        await asyncio.sleep(0.05)
        return (batcher.metrics.value("intentd_expired_total", {"stage": "queue"}),
                batcher.metrics.value("intentd_cancelled_total"))

    assert run(engine, scenario, slo_p95_ms=0) == (1.0, 1.0)


def test_batch_shrinks_to_the_oldest_requests_budget(engine):
    texts = [f"send {i} dollars to savings" for i in range(10)]

    async def scenario(batcher: Batcher):
        for tokens in (10, 100, 300, 50) * 3:  # the model: 1 ms per padded token
            batcher.timing.observe_forward([tokens], 1e-3 * tokens)
        release = await batcher.hold()
        tasks = [asyncio.create_task(batcher.submit(t, RequestOptions(), None)) for t in texts]
        while batcher.queued < len(texts):
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.15)  # most of a 200 ms SLO budget is spent waiting
        release()
        return await asyncio.gather(*tasks)

    unbounded = run(engine, scenario, max_batch_size=32, slo_p95_ms=0)
    assert {r.batch_size for r in unbounded} == {10}  # no budget: one batch takes the whole queue
    # ~9 tokens a request at 1 ms a token: the ~50 ms left of the oldest's budget fits about 5
    bounded = run(engine, scenario, max_batch_size=32, slo_p95_ms=200)
    assert max(r.batch_size for r in bounded) < 10
    assert len(bounded) == 10 and all(r.analysis.prediction.intent for r in bounded)  # late, still answered


@pytest.mark.parametrize("slo_ms, deadline_s, deadline_budget, admitted", [
    (25, None, False, "busy"),  # the SLO binds
    (25, 1.0, False, "busy"),  # a generous deadline does not loosen the SLO
    (0, 0.02, False, "never"),  # no SLO: the caller's deadline binds (shorter than one answer alone)
    (0, 1.0, False, True),
    (0, None, False, True),  # no SLO, no deadline: no budget
    (25, 1.0, True, True),  # --deadline-budget: the caller's deadline is its budget
    (25, None, True, "busy"),  # ... and a request without one keeps the SLO
    (25, 0.02, True, "never"),
])
def test_admission_sheds_what_the_budget_cannot_cover(engine, slo_ms, deadline_s, deadline_budget, admitted):
    async def scenario(batcher: Batcher):
        for tokens in (10, 20, 40) * 3:  # 50 ms a batch, whatever its size
            batcher.timing.observe_forward([tokens], 0.050)
        release = await batcher.hold()
        try:
            call = asyncio.create_task(batcher.submit("what is my balance", RequestOptions(), deadline_s))
            while not call.done() and batcher.queued < 1:
                await asyncio.sleep(0.005)
        finally:
            release()
        return await call

    settings = {"slo_p95_ms": slo_ms, "deadline_budget": deadline_budget}
    if admitted is True:
        assert run(engine, scenario, **settings).analysis.prediction.intent == "check_balance"
    elif admitted == "busy":
        with pytest.raises(Overloaded, match="work ahead"):
            run(engine, scenario, **settings)
    else:
        with pytest.raises(DeadlineUnmeetable, match="shorter than the ~"):
            run(engine, scenario, **settings)


@pytest.mark.parametrize("deadline_s, error", [(0.08, Overloaded), (0.02, DeadlineUnmeetable)])
def test_a_deadline_shorter_than_one_answer_is_refused_as_such_not_as_busy(engine, deadline_s, error):
    """Behind ten queued requests (one a batch, ~50 ms alone) an 80 ms deadline is refused as busy
    (retry later); a 20 ms one could not be met by an idle server either: DEADLINE_EXCEEDED."""
    async def scenario(batcher: Batcher):
        for tokens in (10, 20, 40) * 3:
            batcher.timing.observe_forward([tokens], 0.050)
        release = await batcher.hold()
        ahead = [asyncio.create_task(batcher.submit("what is my balance", RequestOptions(), None))
                 for _ in range(10)]
        while batcher.queued < 10:
            await asyncio.sleep(0.005)
        try:
            with pytest.raises(error) as refused:
                await batcher.submit("what is my balance", RequestOptions(), deadline_s)
        finally:
            release()
        await asyncio.gather(*ahead)
        return str(refused.value)

    message = run(engine, scenario, slo_p95_ms=0, max_batch_size=1)
    assert ("work ahead" if error is Overloaded else "shorter than the ~") in message


@pytest.mark.parametrize("how", ["deadline", "stamp", "long text"])
def test_a_callers_budget_shorter_than_one_answer_does_not_cut_admission_for_others(engine, how):
    """4 ms deadlines (or stamps claiming 24 of the 25 ms SLO were spent on the way, or 128-token
    texts with deadlines a short text would meet) are late on an idle server too: their lateness
    says nothing of the load, so the admit share stays whole."""
    async def scenario(batcher: Batcher):
        for i in range(40):
            await asyncio.sleep(0.01)  # one caller, one call after another: an idle server each time
            if how == "deadline":
                await batcher.submit(f"what is my balance {i}", RequestOptions(), 0.004)
            elif how == "stamp":
                await batcher.submit(f"what is my balance {i}", RequestOptions(), None, waited_s=0.024)
            else:
                long = f"what is my balance {i} " + "and my savings please " * 40
                tokens = len(engine.tokenize([long])[0].ids)
                alone = batcher.timing.backlog_s(1, tokens, 1) + batcher.timing.post_per_request_s
                # half the time one answer takes, as predicted now: the prediction moves with each
                # answer measured, and at 0.8 a fast answer on a noisy machine could make it "fit"
                await batcher.submit(long, RequestOptions(), batcher._transport_s + max(0.001, alone * 0.5))
        return batcher.admit_share.value

    assert run(engine, scenario, slo_p95_ms=25) == 1.0


@pytest.mark.parametrize("transport_ms, cut", [(0, False), (999.5, True)])
def test_admission_adapts_to_answers_late_by_the_callers_clock(engine, transport_ms, cut):
    """An answer is late for the admit share when it is past its budget less --slo-transport-ms
    (what gRPC, the network and the caller add): keeping all but 0.5 ms of a 1 s SLO for the
    transport makes every answer late, and each cuts the share."""
    async def scenario(batcher: Batcher):
        for i in range(20):
            await batcher.submit(f"what is my balance {i}", RequestOptions(), None)
        return batcher.admit_share.value

    share = run(engine, scenario, slo_p95_ms=1000, slo_transport_ms=transport_ms)
    assert (share < 1.0) is cut


def test_a_request_whose_deadline_passes_in_the_queue_counts_as_late(engine):
    """An admitted request that expires while queued is admission's plainest mistake: it lowers
    the admit share as a late answer does, so the next requests are judged more strictly."""
    async def scenario(batcher: Batcher):
        for tokens in (10, 20, 40) * 3:  # the model looks fast: 1 ms a batch
            batcher.timing.observe_forward([tokens], 0.001)
        release = await batcher.hold()
        call = asyncio.create_task(batcher.submit("what is my balance", RequestOptions(), 0.05))
        while batcher.queued < 1:
            await asyncio.sleep(0.005)
        before = batcher.admit_share.value
        await asyncio.sleep(0.1)  # its 50 ms pass while the model is held
        release()
        with pytest.raises(DeadlineUnmeetable, match="while queued"):
            await call
        return before, batcher.admit_share.value

    before, after = run(engine, scenario, slo_p95_ms=0)
    assert before == 1.0 and after < 1.0


def test_every_admitted_request_counts_until_answered(engine):
    async def scenario(batcher: Batcher):
        release = await batcher.hold()
        tasks = [asyncio.create_task(batcher.submit(f"card {i}", RequestOptions(), None)) for i in range(4)]
        while batcher.in_system < 4:
            await asyncio.sleep(0.005)
        with pytest.raises(Overloaded, match="4 requests in progress"):
            await batcher.submit("one too many", RequestOptions(), None)
        release()
        results = await asyncio.gather(*tasks)
        assert batcher.in_system == 0
        return results

    results = run(engine, scenario, max_queue=4, slo_p95_ms=0)
    assert len(results) == 4


def test_each_request_of_a_batch_is_answered_as_soon_as_its_own_post_processing_is_done(engine):
    """The oldest request of a batch (the nearest its budget) leaves before its neighbours are
    post-processed: when its caller has its answer, the newest request's is not ready yet. Fails
    when the batch settles every Future only after post-processing all of them."""
    texts = [f"transfer {i} dollars to savings" for i in range(8)]  # one length: batch order = arrival
    assert len({n_tokens(engine, t) for t in texts}) == 1

    async def scenario(batcher: Batcher):
        release = await batcher.hold()
        tasks = [asyncio.create_task(batcher.submit(t, RequestOptions(), None)) for t in texts]
        while batcher.queued < len(texts):
            await asyncio.sleep(0.005)
        newest_done_then: list[bool] = []
        tasks[0].add_done_callback(lambda _: newest_done_then.append(tasks[-1].done()))
        release()
        return newest_done_then, await asyncio.gather(*tasks)

    newest_done_then, results = run(engine, scenario, max_batch_size=8, slo_p95_ms=0)
    assert [r.batch_size for r in results] == [8] * 8
    assert newest_done_then == [False]
    posts = [r.postprocess_s for r in results]
    assert posts == sorted(posts) and posts[0] < posts[-1]  # each counts up to its own answer
    assert [r.analysis.prediction.intent for r in results] == ["transfer_money"] * 8


def test_an_idle_quiet_server_answers_in_the_handler_and_a_burst_goes_through_the_queue(engine):
    """A request to a server idle for a while runs in its own coroutine: it is answered before
    the event loop runs anything else (no hop through the queue and the scheduler task). One
    arriving right after an answer (a burst gRPC held unread) takes the queue, as before."""
    async def scenario(batcher: Batcher):
        loop = asyncio.get_running_loop()
        passes: list[str] = []
        await asyncio.sleep(0.05)
        loop.call_soon(passes.append, "first")
        first = await batcher.submit("what is my balance", RequestOptions(), None)
        first_inline = "first" not in passes
        loop.call_soon(passes.append, "second")
        second = await batcher.submit("what is my balance now", RequestOptions(), None)
        second_inline = "second" not in passes
        return first_inline, second_inline, first, second

    first_inline, second_inline, first, second = run(engine, scenario, slo_p95_ms=0)
    assert first_inline and not second_inline
    assert first.analysis.prediction.intent == second.analysis.prediction.intent == "check_balance"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="thread names are read from Linux's /proc")
def test_worker_threads_carry_their_names_for_the_operating_system(banking_artifact):
    """`top -H` and `make bench` tell the inference thread and the row helpers from the event loop
    by their native names: a burst runs on both, and /proc lists them by name."""
    engine = Engine.load(banking_artifact, intra_op_threads=1, row_threads=2)

    async def scenario(batcher: Batcher):
        results = await asyncio.gather(*(batcher.submit(f"send {i} euros to my savings account",
                                                        RequestOptions(), None) for i in range(40)))
        return results, {(task / "comm").read_text().strip() for task in Path("/proc/self/task").iterdir()}

    results, names = run(engine, scenario, slo_p95_ms=0)
    assert max(r.batch_size for r in results) > 1  # the inference thread ran batches, the helper took rows
    assert {"intentd-infer_0", "intentd-rows_0"} <= names
