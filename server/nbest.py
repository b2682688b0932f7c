"""ASR n-best: one answer from several transcripts of the same audio.

The rule (docs/voice.md, "n-best"):
- The transcripts are `text` (index 0) and `alternatives` (1..n). Their weights are the ASR
  confidences, normalised to sum to 1; when no transcript has one, the ranks weigh 1, 1/2, 1/3 ...
- Each transcript is analysed as an ordinary request: all are submitted to the batcher at once,
  so they share its batches (on an idle server the first runs at once, alone; each may come
  from the cache). When the server sheds one under load, it sheds the request: an answer from
  the transcripts the load let in would change with the load.
- Intent: the weighted mean of the transcripts' intent distributions (every intent of each, so
  the mixture does not depend on how many intents the caller asks to see); the answer's ranking
  is that mixture, cut to `top_k`. The OOD score is the weighted mean
  of the transcripts' scores, flagged at the model's threshold.
- Entities come from one transcript, `used_alternative`: the one whose answer is no hand-off
  (escalated for any reason but policy) when one is, and leaves the fewest required slots
  missing, so the highest-weighted that fills them all when one does; ties go to the higher
  weight, then the lower index. Each transcript is judged by the answer it would give:
  its spans resolved for the chosen intent (a date one transcript's own intent reads as past may
  be refused for the mixture's), then the escalation hint, the follow-up reading and the response
  for the mixture's prediction on it (slots carried in `filled_slots` count only where that
  answer keeps them). A slot filled with free text from a follow-up's words (no tag, no type)
  counts as filled only in the highest-weighted transcript: "near knee" beside "near me"
  answering "Which city?" differs in exactly those words, and is no better answer for filling it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .admission import check_text
from .analysis import Analysis, RequestOptions
from .decode import Prediction
from .engine import Engine
from .errors import InvalidRequest

MAX_ALTERNATIVES = 10


@dataclass(frozen=True, slots=True)
class Transcript:
    index: int  # 0: the request's `text`; k: alternatives[k - 1]
    text: str
    weight: float  # relative: normalised over the transcripts combined


def admit(request, text: str, max_chars: int) -> list[Transcript]:
    """`text` and the request's alternatives with their weights. Raises InvalidRequest naming the
    field: too many alternatives, a bad text, a confidence outside [0, 1], or confidences given
    for some transcripts and not others."""
    alternatives = request.alternatives
    if len(alternatives) > MAX_ALTERNATIVES:
        raise InvalidRequest(f"alternatives: {len(alternatives)} transcripts is over the limit of {MAX_ALTERNATIVES}")
    texts = [text]
    confidences = [_confidence("asr_confidence", request.asr_confidence)]
    for i, alternative in enumerate(alternatives):
        texts.append(check_text(alternative.text, max_chars, f"alternatives[{i}].text"))
        confidences.append(_confidence(f"alternatives[{i}].confidence", alternative.confidence))
    given = [c > 0 for c in confidences]
    if any(given) and not all(given):
        field = "asr_confidence" if not given[0] else f"alternatives[{given.index(False) - 1}].confidence"
        raise InvalidRequest(f"{field}: missing (0) while other transcripts have one; give every transcript "
                             "a confidence in (0, 1], or none")
    weights = confidences if all(given) else [1.0 / (rank + 1) for rank in range(len(texts))]
    return [Transcript(i, t, w) for i, (t, w) in enumerate(zip(texts, weights))]


def _confidence(field: str, value: float) -> float:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidRequest(f"{field}: {value:g} is outside [0, 1]")
    return float(value)


def transcript_options(options: RequestOptions, engine: Engine) -> RequestOptions:
    """The options each transcript is analysed with: every intent ranked, so the mixture is the
    same whatever `top_k` the caller asked for (a cut ranking would drop different tails)."""
    return replace(options, top_k=len(engine.model.labels.intents))


def combine(engine: Engine, transcripts: list[Transcript], analyses: list[Analysis],
            options: RequestOptions) -> Analysis:
    """The n-best answer (see the module docstring); `analyses[i]` is `transcripts[i]` analysed."""
    total = sum(t.weight for t in transcripts)
    transcripts = [replace(t, weight=t.weight / total) for t in transcripts]
    mixture: dict[str, float] = {}
    for t, a in zip(transcripts, analyses):
        for name, p in a.prediction.intents:
            mixture[name] = mixture.get(name, 0.0) + t.weight * p
    ranking = sorted(mixture.items(), key=lambda item: -item[1])
    chosen = ranking[0][0]
    ood_score = sum(t.weight * a.prediction.ood_score for t, a in zip(transcripts, analyses))
    methods = set.intersection(*(set(a.prediction.ood_scores) for a in analyses))
    ood_scores = {m: sum(t.weight * a.prediction.ood_scores[m] for t, a in zip(transcripts, analyses))
                  for m in sorted(methods)}
    scorer = engine.model.ood
    unreadable = all(a.prediction.unreadable for a in analyses)
    is_ood = (scorer is not None and ood_score >= scorer.threshold) or unreadable

    options = options.at_one_instant()

    def answer(i: int) -> Analysis:
        own = analyses[i].prediction
        prediction = Prediction(ranking, own.entities, ood_score, ood_scores, is_ood=is_ood,
                                truncated=own.truncated, analyzed_chars=own.analyzed_chars, unreadable=unreadable)
        text = transcripts[i].text
        entities = engine.resolver.resolve(text, own.entities, options, chosen,
                                           own.analyzed_chars if own.truncated else None)
        analysis = engine.conclude(text, prediction, entities, options)
        analysis.used_alternative = transcripts[i].index
        return analysis

    best, best_shortfall = None, None
    order = sorted(range(len(transcripts)), key=lambda i: (-transcripts[i].weight, i))
    for i in order:
        candidate = answer(i)
        shortfall = _shortfall(candidate, top=i == order[0])
        if best_shortfall is None or shortfall < best_shortfall:
            best, best_shortfall = candidate, shortfall
        if best_shortfall == (False, 0):  # the highest-weighted answer that fills every required slot
            break
    assert best is not None
    return best


def _shortfall(analysis: Analysis, top: bool) -> tuple[bool, int]:
    """What an answer leaves undone: whether it hands the turn off (escalated for any reason but
    policy: "hmm" beside "fifty dollars" is no better answer for asking nothing), then the required
    slots it still asks for, counting those filled with a follow-up's free text unless `top`."""
    escalation = analysis.escalation
    handoff = escalation.escalate and escalation.reason != "policy"
    if analysis.response is None:
        return handoff, 0
    guessed = set() if top else {e.type for e in analysis.entities if e.source == "context"
                                 and (e.resolution or {}).get("kind") == "text"}
    return handoff, len(analysis.response.slots_missing) + len(guessed & set(analysis.response.slots_used))
