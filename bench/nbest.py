"""ASR n-best: intent accuracy of the top transcript alone vs the n-best rule, on a noised copy of a
test split.

    python -m bench.nbest --model models/artifacts/example [--data models/domains/banking/test.jsonl]
                          [--snips-model ARTIFACT] [--seed 13] [--repeats 5] [--out bench-results]
                          [--write-noised DIR]

The noised copy imitates an ASR n-best list, seeded: for each in-scope utterance, NOISED
transcripts, each with its own mix of word drops, homophones ("card" -> "car", "to" -> "two"),
numbers written as words ("200" -> "two hundred") and no punctuation or capitals; with
probability CLEAN_SHARE the clean text is among them, as the recogniser often has the right
words somewhere in its list. Each transcript gets an ASR score (its word accuracy against the
clean text plus Gaussian noise: a recogniser does not know which is right); the list is sorted
by it, the best is the top transcript, and the confidences are the scores' softmax.

Scored through the serving path in-process (Engine, nbest.combine: the rule the server applies),
as intent accuracy (the top-1 intent is the gold one) of: the clean text (the ceiling), the top
transcript alone, the n-best rule with the ASR confidences, the rule with ranks only, and an
oracle that picks any transcript classified right. SNIPS (../shared/datasets/snips, test split)
is scored when --snips-model names an artifact trained on it; else it says so and skips.
--repeats N noises the split N times (seeds seed .. seed+N-1) and reports the mean and the range:
a split of a few hundred utterances moves by a point between seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BANKING_TEST = REPO / "models" / "domains" / "banking" / "test.jsonl"
SNIPS_TEST = REPO.parent / "shared" / "datasets" / "snips" / "test"

NOISED = 4  # noised transcripts per utterance
CLEAN_SHARE = 0.5  # how often the clean text is in the list too
P_DROP = 0.1  # per word
P_HOMOPHONE = 0.5  # per word that has one
P_NUMBER_WORDS = 0.7  # per transcript: its numbers written as words
SCORE_NOISE = 0.15  # standard deviation of the recogniser's error on its own scores
SOFTMAX_T = 0.1  # temperature of the confidences
BATCH = 64

HOMOPHONES = {
    "to": ["two", "too"], "two": ["to", "too"], "too": ["to"], "for": ["four"], "four": ["for"],
    "card": ["car", "cart"], "cards": ["cars"], "pin": ["pen"], "new": ["knew"], "no": ["know"], "know": ["no"],
    "right": ["write"], "write": ["right"], "their": ["there"], "there": ["their"], "your": ["you're"],
    "check": ["cheque", "czech"], "checking": ["chequing"], "sent": ["cent"], "send": ["sand"], "account": ["a count"],
    "savings": ["saving", "save ins"], "balance": ["ballots"], "by": ["buy", "bye"], "buy": ["by"], "week": ["weak"],
    "hour": ["our"], "our": ["hour"], "close": ["clothes"], "mail": ["male"], "wait": ["weight"], "due": ["do"],
    "one": ["won"], "eight": ["ate"], "fee": ["free"], "bill": ["bell"], "loan": ["lone"], "i": ["eye"],
    "transfer": ["trans for"], "deposit": ["the posit"], "statement": ["state meant"], "limit": ["lemon"],
    "lost": ["last"], "stolen": ["stole in"], "freeze": ["frees"], "block": ["black"], "pay": ["pray"],
    "play": ["pray", "plate"], "weather": ["whether"], "book": ["look"], "find": ["fined"], "movie": ["moving"],
    "rain": ["reign"], "song": ["sun"], "add": ["ad"], "rate": ["great"], "playlist": ["play list"],
    "restaurant": ["rest of rant"], "table": ["cable"], "forecast": ["for cast"], "tomorrow": ["to marrow"],
}
_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER = re.compile(r"[$€£]?\d[\d,]*(?:\.\d+)?")
_PUNCT = re.compile(r"[^\w\s'$€£.,]|(?<!\d)[.,]|[.,](?!\d)")
_CURRENCY = {"$": "dollars", "€": "euros", "£": "pounds"}


def words(n: int) -> str:
    """A whole number in English words ("two hundred forty five")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return f"{words(head)} {name}" + ("" if rest == 0 else " " + words(rest))
    raise AssertionError(n)


def number_words(token: str) -> str:
    symbol = token[0] if token[0] in _CURRENCY else ""
    digits = token[len(symbol):].replace(",", "")
    whole, _, fraction = digits.partition(".")
    if len(whole) > 12:
        return token
    said = words(int(whole)) + ("" if not fraction else " point " + " ".join(_ONES[int(d)] for d in fraction))
    return said + (" " + _CURRENCY[symbol] if symbol else "")


def asr_form(text: str) -> str:
    """What a recogniser writes: no punctuation, no capitals."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def noised(text: str, rng: random.Random) -> str:
    t = asr_form(text)
    if rng.random() < P_NUMBER_WORDS:
        t = _NUMBER.sub(lambda m: number_words(m.group(0)), t)
    out = []
    for w in t.split():
        if rng.random() < P_DROP:
            continue
        if w in HOMOPHONES and rng.random() < P_HOMOPHONE:
            w = rng.choice(HOMOPHONES[w])
        out.append(w)
    return " ".join(out) or t


def word_accuracy(hypothesis: str, reference: str) -> float:
    """1 - word error rate (clipped at 0): Levenshtein distance over words."""
    h, r = hypothesis.split(), reference.split()
    row = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, row[0] = row[0], i
        for j, hw in enumerate(h, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
    return max(0.0, 1.0 - row[len(h)] / max(1, len(r)))


def n_best(text: str, rng: random.Random) -> list[tuple[str, float]]:
    """An n-best list for `text`, best first, with ASR confidences."""
    candidates = list(dict.fromkeys(noised(text, rng) for _ in range(NOISED)))  # in order: reproducible
    if rng.random() < CLEAN_SHARE and text not in candidates:
        candidates.append(text)
    reference = asr_form(text)
    scored = sorted(((word_accuracy(asr_form(c), reference) + rng.gauss(0, SCORE_NOISE), c) for c in candidates),
                    reverse=True)
    top = scored[0][0]
    weights = [math.exp((s - top) / SOFTMAX_T) for s, _ in scored]
    total = sum(weights)
    return [(c, w / total) for (_, c), w in zip(scored, weights)]


def load_jsonl(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["text"], r["intent"]) for r in rows if r.get("intent") and not r.get("ood")]


def load_bio(folder: Path) -> list[tuple[str, str]]:
    texts = (folder / "seq.in").read_text(encoding="utf-8").splitlines()
    labels = (folder / "label").read_text(encoding="utf-8").splitlines()
    return [(" ".join(t.split()), label.strip()) for t, label in zip(texts, labels) if t.strip()]


def evaluate(model: Path, examples: list[tuple[str, str]], seeds: list[int], write_to: Path | None = None) -> dict:
    """Every seed's figures, and their mean and range."""
    from intentd.server.engine import Engine

    engine = Engine.load(model)
    runs = [evaluate_once(engine, examples, seed, write_to if i == 0 else None) for i, seed in enumerate(seeds)]
    summary = {"n": runs[0]["n"], "seeds": seeds, "runs": runs}
    for key in ("transcripts_per_utterance", "clean_in_list", "clean_on_top", "used_alternative_not_top"):
        summary[key] = round(sum(r[key] for r in runs) / len(runs), 4)
    summary["intent_accuracy"] = {name: round(sum(r["intent_accuracy"][name] for r in runs) / len(runs), 4)
                                  for name in runs[0]["intent_accuracy"]}
    summary["intent_accuracy_range"] = {name: [min(r["intent_accuracy"][name] for r in runs),
                                               max(r["intent_accuracy"][name] for r in runs)]
                                        for name in runs[0]["intent_accuracy"]}
    return summary


def evaluate_once(engine, examples: list[tuple[str, str]], seed: int, write_to: Path | None = None) -> dict:
    from intentd.server import nbest
    from intentd.server.analysis import RequestOptions

    rng = random.Random(seed)
    lists = [n_best(text, rng) for text, _ in examples]
    if write_to is not None:
        write_to.parent.mkdir(parents=True, exist_ok=True)
        with write_to.open("w", encoding="utf-8") as f:
            for (text, intent), alts in zip(examples, lists):
                f.write(json.dumps({"text": alts[0][0], "intent": intent, "clean": text,
                                    "alternatives": [{"text": t, "confidence": round(c, 4)} for t, c in alts[1:]]},
                                   ensure_ascii=False) + "\n")
    options = RequestOptions()
    each = nbest.transcript_options(options, engine)
    flat = [t for alts in lists for t, _ in alts] + [text for text, _ in examples]
    analyses = []
    for i in range(0, len(flat), BATCH):
        analyses.extend(engine.analyze(flat[i:i + BATCH], each))
    clean = analyses[-len(examples):]
    counts = dict.fromkeys(("clean", "top", "nbest", "nbest_ranks", "oracle"), 0)
    used_other, clean_listed, clean_on_top, k = 0, 0, 0, 0
    for (text, gold), alts, clean_answer in zip(examples, lists, clean):
        mine = analyses[k:k + len(alts)]
        k += len(alts)
        by_confidence = nbest.combine(engine, [nbest.Transcript(i, t, c) for i, (t, c) in enumerate(alts)], mine,
                                      options)
        by_rank = nbest.combine(engine, [nbest.Transcript(i, t, 1 / (i + 1)) for i, (t, _) in enumerate(alts)], mine,
                                options)
        counts["clean"] += clean_answer.prediction.intent == gold
        counts["top"] += mine[0].prediction.intent == gold
        counts["nbest"] += by_confidence.prediction.intent == gold
        counts["nbest_ranks"] += by_rank.prediction.intent == gold
        counts["oracle"] += any(a.prediction.intent == gold for a in mine)
        used_other += by_confidence.used_alternative != 0
        clean_listed += any(t == text for t, _ in alts)
        clean_on_top += alts[0][0] == text
    n = len(examples)
    return {"n": n, "transcripts_per_utterance": round(k / n, 2), "seed": seed,
            "clean_in_list": round(clean_listed / n, 4), "clean_on_top": round(clean_on_top / n, 4),
            "used_alternative_not_top": round(used_other / n, 4),
            "intent_accuracy": {name: round(c / n, 4) for name, c in counts.items()}}


def markdown(results: dict) -> str:
    rows = ["| data set | n x seeds | clean text | top transcript alone | n-best (ASR confidences) | "
            "n-best (ranks only) | oracle (any transcript) | entities from a lower transcript |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        a, span = r["intent_accuracy"], r["intent_accuracy_range"]

        def cell(key: str) -> str:
            low, high = span[key]
            return f"{100 * a[key]:.2f} %" + (f" ({100 * low:.1f}-{100 * high:.1f})" if len(r["seeds"]) > 1 else "")
        rows.append(f"| {name} | {r['n']} x {len(r['seeds'])} | {cell('clean')} | {cell('top')} | {cell('nbest')} | "
                    f"{cell('nbest_ranks')} | {cell('oracle')} | {100 * r['used_alternative_not_top']:.1f} % |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "artifacts" / "example"),
                        help="artifact for --data (default: the banking example)")
    parser.add_argument("--data", default=str(BANKING_TEST), help="canonical JSONL test split")
    parser.add_argument("--snips-model", help="an artifact trained on SNIPS: also score SNIPS's test split")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--repeats", type=int, default=5, help="noised copies, seeds seed .. seed+N-1")
    parser.add_argument("--out", default="bench-results")
    parser.add_argument("--write-noised", metavar="DIR", help="also write the noised n-best lists as JSONL")
    args = parser.parse_args(argv)
    if not (Path(args.model) / "manifest.json").is_file():
        print(f"error: {args.model}: not an artifact (build the example with `make model`)", file=sys.stderr)
        return 2
    if args.repeats < 1:
        print("error: --repeats must be at least 1", file=sys.stderr)
        return 2
    seeds = list(range(args.seed, args.seed + args.repeats))
    noised_dir = Path(args.write_noised) if args.write_noised else None
    results = {}
    name = Path(args.data).stem if Path(args.data) != BANKING_TEST else "banking (test)"
    results[name] = evaluate(Path(args.model), load_jsonl(Path(args.data)), seeds,
                             noised_dir / "banking.jsonl" if noised_dir else None)
    if not SNIPS_TEST.is_dir():
        print(f"SNIPS skipped: {SNIPS_TEST} not found", file=sys.stderr)
    elif not args.snips_model:
        print("SNIPS skipped: give --snips-model ARTIFACT (an artifact trained on SNIPS, e.g. by bench/accuracy.py)",
              file=sys.stderr)
    else:
        results["SNIPS (test)"] = evaluate(Path(args.snips_model), load_bio(SNIPS_TEST), seeds,
                                           noised_dir / "snips.jsonl" if noised_dir else None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbest.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "nbest.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
