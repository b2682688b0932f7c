"""The batcher alone (no gRPC): idle requests run at once; batches respect size and token budget."""

from __future__ import annotations

import asyncio
import threading

import pytest

from intentd.server.analysis import RequestOptions
from intentd.server.batcher import Batcher, Served
from intentd.server.config import Settings
from intentd.server.metrics import Metrics


@pytest.fixture(scope="module")
def served(banking_artifact):
    return Served.load(banking_artifact, Settings(model=banking_artifact, warm_up=False))


def run(served, coro_fn, **overrides):
    async def main():
        batcher = Batcher(served, Settings(model=served.path, **overrides), Metrics())
        batcher.start()
        try:
            return await coro_fn(batcher)
        finally:
            await batcher.close()
    return asyncio.run(main())


def test_idle_request_runs_alone_at_once(served):
    result = run(served, lambda b: b.submit("what is my balance", RequestOptions(), None))
    assert result.batch_size == 1 and result.analysis.prediction.intent == "check_balance"


def test_batches_respect_size_and_token_budget(served):
    texts = [f"send {i} euros to my savings account " + "please " * (i % 7) for i in range(40)]

    async def burst(batcher):
        release = threading.Event()
        batcher._infer_pool.submit(release.wait, 30)  # hold the worker so the burst queues up
        tasks = [asyncio.create_task(batcher.submit(t, RequestOptions(top_k=1), None)) for t in texts]
        while batcher.queued < len(texts) - 1:
            await asyncio.sleep(0.01)
        release.set()
        return await asyncio.gather(*tasks)

    results = run(served, burst, max_batch_size=8, max_batch_tokens=200)
    assert all(1 <= r.batch_size <= 8 for r in results)
    assert all(len(r.analysis.prediction.intents) == 1 for r in results)
    assert max(r.batch_size for r in results) > 1

