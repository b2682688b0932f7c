"""How often AnalyzeStream's `stable` signal names the intent the final transcript gets.

    python -m bench.stability --model models/artifacts/example [--data models/domains/banking/test.jsonl]
                              [--generated 400] [--n 2 3 4 5] [--confidence 0.8 0.9 0.95 0.98]

Each utterance is spoken word by word, as `intentd loadtest --voice-streams` speaks it: the
partials are its first 1 .. k-1 words, the final its whole text. Every prefix is analysed through
the serving path in-process (Engine, the batch-independent served graph) and fed to the server's
own `Stability` rule with each `--stream-stable-n` and `--stream-stable-confidence` asked; the
first partial marked stable is compared with the final's intent. Per setting: the share of
utterances where it fired, the share of those where its intent was not the final's, and how many
words before the end it fired. `--generated N` adds N of the load tester's generated utterances.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BANKING_TEST = REPO / "models" / "domains" / "banking" / "test.jsonl"
REFERENCE_TIME = dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc)  # dates resolve alike every run


def prefixes(text: str) -> list[str]:
    words = text.split()
    return [" ".join(words[:i]) for i in range(1, len(words) + 1)]


def analyse(engine, texts: list[str], batch: int = 64) -> list[list]:
    """Each text's analyses, prefix by prefix (the last: the whole text)."""
    from intentd.server.analysis import RequestOptions

    partial = RequestOptions(reference_time=REFERENCE_TIME, time_zone="UTC", partial=True)
    final = RequestOptions(reference_time=REFERENCE_TIME, time_zone="UTC")
    spoken = [prefixes(t) for t in texts if t.split()]
    flat = [p for s in spoken for p in s]
    options = [partial if j < len(s) - 1 else final for s in spoken for j in range(len(s))]  # as the server marks them
    results = []
    for i in range(0, len(flat), batch):
        results.extend(engine.analyze(flat[i:i + batch], options[i:i + batch]))
    it = iter(results)
    return [[next(it) for _ in s] for s in spoken]


def score(utterances: list[list], n: int, confidence: float) -> dict:
    from intentd.server.stream import Stability

    fired = wrong = early = 0
    for analyses in utterances:
        rule = Stability(n, confidence)
        final = analyses[-1].prediction.intent
        for j, analysis in enumerate(analyses[:-1]):
            if rule.observe(analysis, final=False):
                fired += 1
                early += len(analyses) - 1 - j
                wrong += analysis.prediction.intent != final
                break
    return {"n": n, "confidence": confidence, "utterances": len(utterances),
            "fired_pct": 100 * fired / max(1, len(utterances)), "wrong": wrong,
            "wrong_pct": 100 * wrong / max(1, fired), "words_early": early / max(1, fired)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "artifacts" / "example"))
    parser.add_argument("--data", type=Path, default=BANKING_TEST, help="a canonical JSONL split")
    parser.add_argument("--generated", type=int, default=0, help="also N generated utterances")
    parser.add_argument("--n", type=int, nargs="+", default=[2, 3, 4, 5])
    parser.add_argument("--confidence", type=float, nargs="+", default=[0.8, 0.9, 0.95, 0.98])
    args = parser.parse_args(argv)
    from intentd.server.engine import Engine

    engine = Engine.load(args.model)
    sets = {f"{args.data.parent.name}/{args.data.name}": [json.loads(line)["text"] for line in args.data.read_text(encoding="utf-8").splitlines()
                             if line.strip()]}
    if args.generated:
        from intentd.loadtest.utterances import unique_utterances

        sets["generated"] = list(itertools.islice(unique_utterances(5), args.generated))
    print("| utterances | n | confidence | fired | intent not the final's | words before the end |")
    print("|---|---|---|---|---|---|")
    for name, texts in sets.items():
        spoken = analyse(engine, texts)
        for n, confidence in itertools.product(args.n, args.confidence):
            r = score(spoken, n, confidence)
            print(f"| {name} ({r['utterances']}) | {n} | {confidence:g} | {r['fired_pct']:.1f} % | "
                  f"{r['wrong_pct']:.1f} % ({r['wrong']}) | {r['words_early']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
