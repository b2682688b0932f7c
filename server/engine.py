"""The one inference path, text -> Analysis: tokenise -> forward pass -> decode -> resolve ->
escalate -> respond.

`intentd eval`, `intentd analyze` and the server all call this class; batching is the only
difference between them. The three stages are separate methods so the server's batcher can run
them on different threads (tokenise on admission, forward in the inference thread, `finish` in
the post-processing thread); `analyze` chains them for offline callers. A query's answer does not
depend on which other queries share its batch: the FP32 graph is batch-independent to float rounding, and
the INT8 graph (served by default) runs one row at a time (see server/model.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

from tokenizers import Encoding

from intentd.errors import IntentdError

from . import domain_schema
from .analysis import Analysis, RequestOptions
from .artifact import ArtifactError
from .decode import Prediction
from .escalation import EscalationPolicy
from .followup import FollowUps
from .model import DEFAULT_PROVIDERS, Model, RawOutputs
from .resolve import Resolver
from .respond import Responder, validate_templates
from .tokenize import EncodedBatch

WARM_UP_TEXT = "move 200 dollars from checking to savings tomorrow"

log = logging.getLogger(__name__)


class ModelFailed(IntentdError):
    """The graph raised on a text (offline: eval, analyze, warm-up); the server answers that one
    request INTERNAL and keeps serving."""


@dataclass(slots=True)
class Forwarded:
    """One batch after the forward pass: its padded inputs (word boundaries) and raw outputs."""

    batch: EncodedBatch
    raw: RawOutputs


Part = tuple[list[int], "Forwarded | Exception"]  # rows of a batch, and their forward pass or its failure


class Engine:
    """A loaded artifact: model, domain rules and calibration. Immutable once loaded, so a hot
    reload swaps one Engine for another and a running batch finishes on the one it started with."""

    def __init__(self, model: Model, path: Path):
        self.model = model
        self.path = path
        self.loaded_at = dt.datetime.now(dt.timezone.utc)
        domain = model.artifact.domain
        domain_file = model.artifact.manifest.get("domain") or "domain.yaml"
        _check_domain_schema(domain, model.artifact.root / domain_file, domain_file)
        try:  # a bad domain config fails at load, naming the file, never at request time
            validate_templates(domain, model.labels.intents)
            self.resolver = Resolver(domain)
            self.responder = Responder(domain)
            self.escalation = EscalationPolicy(domain, model.ood.threshold if model.ood is not None else None)
            self.follow_ups = FollowUps(domain, self.resolver, self.responder, self.escalation)
        except IntentdError as exc:
            raise ArtifactError(f"{model.artifact.root / domain_file}: {exc}", f"{domain_file}: {exc}") from None
        if domain is not None:
            _warn_of_gaps(domain, model.labels.intents, self.escalation, model.artifact.root / domain_file)

    @classmethod
    def load(cls, path: str | Path, onnx_file: str | None = None, providers: Sequence[str] = DEFAULT_PROVIDERS,
             intra_op_threads: int = 0, spin: str = "run", row_threads: int = 0) -> "Engine":
        """Blocking (seconds): call it in a thread. Raises ArtifactError for a bad artifact."""
        model = Model.load(path, model=onnx_file, providers=providers, intra_op_threads=intra_op_threads, spin=spin,
                           row_threads=row_threads)
        return cls(model, Path(path))

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def reads_partials(self) -> bool:
        """Trained on partial utterances: a partial (`RequestOptions.partial`) gets its own answer."""
        return self.model.encoder.partial_id is not None

    @property
    def ood_threshold(self) -> float:
        return float(self.model.ood.threshold) if self.model.ood is not None else 0.0

    # -- the three stages ----------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str]) -> list[Encoding]:
        return self.model.encoder.encodings(texts)

    def forward(self, encodings: Sequence[Encoding], partial: Sequence[bool] = ()) -> Forwarded:
        """`partial[i]`: text i is an utterance that may go on (`RequestOptions.partial`)."""
        batch = self.model.encoder.collate(list(encodings), partial)
        return Forwarded(batch, self.model.infer(batch))

    def forward_parts(self, encodings: Sequence[Encoding], partial: Sequence[bool] = ()) -> list[Part]:
        """`forward`, where a pass that fails is run again in halves, down to single rows: a row
        the graph refuses fails alone, and its neighbours get the answers they get alone (one bad
        row among 64 costs 12 more passes, on that path only)."""
        partial = list(partial) or [False] * len(encodings)

        def rows_of(rows: list[int]) -> list[Part]:
            try:
                return [(rows, self.forward([encodings[i] for i in rows], [partial[i] for i in rows]))]
            except Exception as exc:  # noqa: BLE001 - each row's outcome is the caller's to report
                if len(rows) == 1:
                    return [(rows, exc)]
                half = len(rows) // 2
                return rows_of(rows[:half]) + rows_of(rows[half:])

        return rows_of(list(range(len(encodings))))

    def finish(self, texts: Sequence[str], forwarded: Forwarded,
               options: Sequence[RequestOptions]) -> list[Analysis | Exception]:
        """Decode, resolve, escalate and respond, per request. A failure in one request's
        post-processing fails only that request (returned in its place, never raised)."""
        return list(self.finish_each(texts, forwarded, options))

    def finish_each(self, texts: Sequence[str], forwarded: Forwarded,
                    options: Sequence[RequestOptions]) -> Iterator[Analysis | Exception]:
        """`finish`, one request at a time, in batch order, so the server can answer each as soon
        as it is done. The first step decodes the whole batch (vectorised) and raises if that fails."""
        # the escalation rule reads the top two intents, whatever top_k the caller asked for
        top_k = max(2, max(o.top_k for o in options))
        predictions = self.model.decode(texts, forwarded.batch, forwarded.raw, top_k=top_k)
        for text, prediction, opts in zip(texts, predictions, options):
            outcome: Analysis | Exception
            opts = opts.at_one_instant()
            try:
                entities = self.resolver.resolve(text, prediction.entities, opts, prediction.intent,
                                                 prediction.analyzed_chars if prediction.truncated else None)
                outcome = self.conclude(text, prediction, entities, opts)
            except Exception as exc:  # noqa: BLE001 - reported per request by the caller
                outcome = exc
            yield outcome

    def conclude(self, text: str, prediction: Prediction, entities: list, options: RequestOptions) -> Analysis:
        """Escalation hint, follow-up reading and response for a decoded, resolved text (also for
        the n-best answer, whose prediction combines several transcripts)."""
        escalation = self.escalation.decide(prediction)
        turn = self.follow_ups.resolve(text, prediction, entities, escalation, options)
        if turn is None:
            if options.previous_intent is not None and prediction.intent != options.previous_intent:
                # a new request, not a follow-up: what was collected for the previous intent is not
                # this one's ("close my account" after a transfer would close both its accounts)
                options = replace(options, filled_slots=())
            # what the last answer asked stands only for a follow-up of it (a request of its own asks
            # its own questions)
            options = replace(options, slots_missing=())
            response = self.responder.respond(prediction.intent, entities, escalation, options)
        else:
            entities, escalation, response = turn.entities, turn.escalation, turn.response
        if len(prediction.intents) > options.top_k:
            prediction = replace(prediction, intents=prediction.intents[: options.top_k])
        return Analysis(prediction, entities, escalation, response, self.version,
                        turn.follow_up if turn is not None else None, ood_threshold=self.ood_threshold)

    # -- offline callers -----------------------------------------------------------------------

    def analyze(self, texts: Sequence[str],
                options: RequestOptions | Sequence[RequestOptions] = RequestOptions()) -> list[Analysis]:
        """All stages for one batch (eval, analyze, warm-up). Raises the first request's error."""
        if not texts:
            return []
        per_request = [options] * len(texts) if isinstance(options, RequestOptions) else list(options)
        results: list[Analysis] = [None] * len(texts)  # type: ignore[list-item]
        for rows, forwarded in self.forward_parts(self.tokenize(texts), [o.partial for o in per_request]):
            if isinstance(forwarded, Exception):  # a row the graph refuses: a clear line, not onnxruntime's traceback
                text = texts[rows[0]]
                shown = text if len(text) <= 80 else text[:77] + "..."
                why = str(forwarded).strip().splitlines()[0] if str(forwarded).strip() else type(forwarded).__name__
                raise ModelFailed(f"{self.model.artifact.model_path}: the model failed on the text "
                                  f"{shown!r}: {why}") from forwarded
            answers = self.finish([texts[i] for i in rows], forwarded, [per_request[i] for i in rows])
            for i, result in zip(rows, answers):
                if isinstance(result, Exception):
                    raise result
                results[i] = result
        return results

    def warm_up(self, batch_sizes: Sequence[int] = (1,)) -> None:
        """Load the resolvers' data and run each batch shape once, so no request pays for it."""
        self.resolver.warm_up()
        for n in sorted(set(batch_sizes)):
            self.analyze([WARM_UP_TEXT] * n)


def _check_domain_schema(domain: object, path: Path, name: str) -> None:
    """Types and ranges first, so no constructor below meets a value it would crash on. An unknown
    key is only logged: an artifact written by a newer intentd may carry keys this one does not read.
    `name`: the file as the manifest lists it, for the ReloadModel caller (who never sees paths)."""
    problems = domain_schema.check(domain)
    if not problems:
        return
    lines = domain_schema.key_lines(path)

    def where(problem: domain_schema.Problem, file: Path | str = path) -> str:
        line = domain_schema.line_of(problem.path, lines)
        return f"{file}:{line}" if line is not None else str(file)

    wrong = [p for p in problems if not p.unknown]
    if wrong:
        more = f" (and {len(wrong) - 1} more problem(s) in this file)" if len(wrong) > 1 else ""
        said = str(wrong[0]).split(", got ")[0]  # the caller hears the rule, not the file's values
        raise ArtifactError(f"{where(wrong[0])}: {wrong[0]}{more}", f"{where(wrong[0], name)}: {said}{more}")
    for problem in problems:
        _warn_once(f"{where(problem)}: {problem}")


def _warn_of_gaps(domain: dict, intents: Sequence[str], escalation: EscalationPolicy, path: Path) -> None:
    """What the data checks warn of at training, said again where it bites: intents the model
    predicts that the domain does not describe (answered with no response), and escalation tiers
    the domain does not list (a backend routes to a tier it may not have)."""
    described = domain.get("intents") or {}
    missing = [name for name in intents if name not in described]
    if missing:
        _warn_once(f"{path}: intents the model predicts but the domain does not describe, answered with no "
                   f"response: {', '.join(missing)}")
    silent = [name for name, spec in described.items() if not (isinstance(spec, dict) and "response" in spec)]
    if silent:  # a `response:` line deleted, or `greeting: {}`: empty answers, unsaid at every stage
        _warn_once(f"{path}: intents with no response, answered with none: {', '.join(silent)}")
    tiers = (domain.get("escalation") or {}).get("tiers")
    if isinstance(tiers, list):
        used = {*escalation.tiers.values(), *escalation.policy.values()}
        unknown = sorted(str(t) for t in used if t not in tiers)
        if unknown:
            _warn_once(f"{path}: escalation tier(s) not listed in escalation.tiers: {', '.join(unknown)}")


def _warn_once(message: str) -> None:
    if message not in _WARNED:  # a build loads its artifact several times: say it once
        _WARNED.add(message)
        log.warning("%s", message)


_WARNED: set[str] = set()
