"""The `intentd` command. Each sub-command parses its flags here and calls one library function;
heavy imports (torch, onnxruntime) happen inside the handlers so `intentd --help` stays instant.
Library code raises typed errors; this is the only place that turns them into exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from intentd import __version__
from intentd.argtypes import finite_float

EXIT_ERROR = 2


class UsageError(Exception):
    """A bad flag value: printed as one line, exit 2."""


def _cmd_import(args: argparse.Namespace) -> int:
    from intentd.models.data.importers import format_summary, import_into

    if not args.ood_label.strip():
        raise UsageError("--ood-label: empty (the label that marks an out-of-scope example, e.g. oos)")
    if args.format == "csv" and args.text_column == args.intent_column:
        raise UsageError(f"--text-column and --intent-column are both {args.text_column!r}: they must differ")
    if args.max_length < 8:
        raise UsageError(f"--max-length must be at least 8 (got {args.max_length})")
    result, paths = import_into(
        args.out,
        args.format,
        args.src,
        fail_on_warnings=args.strict,
        max_length=args.max_length,
        text_column=args.text_column,
        intent_column=args.intent_column,
        ood_label=args.ood_label,
        seed=args.seed,
        valid_fraction=args.valid_fraction,
        test_fraction=args.test_fraction,
    )
    print(format_summary(result))
    for split, path in paths.items():
        print(f"wrote {path}")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from intentd.models.init import init_domain

    if not args.dir.strip():
        raise UsageError("init: give the folder to write the domain into (e.g. intentd init my-domain)")
    _check_name(args.name)
    written = init_domain(args.dir, name=args.name)
    for path in written:
        print(f"wrote {path}")
    data = Path(args.dir) / "data"
    folder, art = shlex.quote(args.dir), shlex.quote(str(Path(args.dir) / "artifact"))  # to paste into a shell
    print(f"next: edit them, then\n"
          f"  intentd data import --format jsonl {folder} --out {shlex.quote(str(data))}\n"
          f"  intentd train --data {shlex.quote(str(data))} --out {art}\n"
          f"guide: docs/writing-a-domain.md")
    return 0


BUDGET_CONFIDENCE_HELP = ("probability that the budget holds on new queries like the validation split's (default: "
                          "the domain's escalation.budget_confidence, else 0.9; 0.5 holds it on average)")


def _check_budget(args: argparse.Namespace) -> None:
    if args.target_fer is not None and not 0.0 <= args.target_fer < 1.0:
        raise UsageError(f"--target-fer must be in [0, 1) (got {args.target_fer:g})")
    if args.budget_confidence is not None and not 0.0 < args.budget_confidence < 1.0:
        raise UsageError(f"--budget-confidence must be in (0, 1) (got {args.budget_confidence:g})")


def _check_name(name: str | None) -> None:
    from intentd.server.domain_schema import is_name

    if name is not None and not is_name(name):
        raise UsageError(f"--name {name!r}: must be non-blank text on one line, with no control characters")


def _cmd_train(args: argparse.Namespace) -> int:
    from intentd.models.config import TrainConfig

    _check_budget(args)
    _check_name(args.name)
    for flag, value, low in (("--epochs", args.epochs, 1), ("--patience", args.patience, 0),
                             ("--batch-size", args.batch_size, 1), ("--max-length", args.max_length, 8),
                             ("--average-last", args.average_last, 0), ("--limit", args.limit, 1),
                             ("--tag-layers", args.tag_layers, 1)):
        if value is not None and value < low:
            raise UsageError(f"{flag} must be at least {low} (got {value})")
    if args.lr <= 0:
        raise UsageError(f"--lr must be more than 0 (got {args.lr:g})")
    if args.time_budget is not None and args.time_budget <= 0:
        raise UsageError(f"--time-budget must be more than 0 minutes (got {args.time_budget:g})")
    if args.label_smoothing is not None and not 0.0 <= args.label_smoothing < 1.0:
        raise UsageError(f"--label-smoothing must be in [0, 1) (got {args.label_smoothing:g})")
    if not 0.0 < args.layer_decay <= 1.0:
        raise UsageError(f"--layer-decay must be in (0, 1] (got {args.layer_decay:g})")
    for flag, value in (("--ood-loss-weight", args.ood_loss_weight), ("--contrastive-weight", args.contrastive_weight),
                        ("--mixup-ood-weight", args.mixup_ood_weight), ("--rdrop-weight", args.rdrop_weight),
                        ("--tag-loss-weight", args.tag_loss_weight), ("--adversarial", args.adversarial)):
        if value < 0:
            raise UsageError(f"{flag} must be 0 or more (got {value:g})")
    if args.adversarial and args.rdrop_weight:
        raise UsageError("--adversarial and --rdrop-weight each train a batch twice: choose one")
    if args.token_dropout is not None and not 0.0 <= args.token_dropout < 1.0:
        raise UsageError(f"--token-dropout must be in [0, 1) (got {args.token_dropout:g})")
    if args.value_swap is not None and not 0.0 <= args.value_swap <= 1.0:
        raise UsageError(f"--value-swap must be between 0 and 1 (got {args.value_swap:g})")
    if not 0.0 <= args.partial_utterances <= 1.0:
        raise UsageError(f"--partial-utterances must be between 0 and 1 (got {args.partial_utterances:g})")
    if not 0.0 <= args.cosine_margin < 1.0:
        raise UsageError(f"--cosine-margin must be in [0, 1) (got {args.cosine_margin:g})")
    if not 0.0 <= args.distill_weight <= 1.0:
        raise UsageError(f"--distill-weight must be between 0 and 1 (got {args.distill_weight:g})")
    for teacher in args.teacher:
        if not Path(teacher, "manifest.json").is_file():
            raise UsageError(f"--teacher {teacher}: not an artifact folder (no manifest.json)")
    from intentd.models.build import BuildOptions, build  # torch: seconds, and only once the flags are sound

    config = TrainConfig(
        base=args.base,
        epochs=args.epochs,
        patience=args.patience,
        time_budget_s=None if args.time_budget is None else args.time_budget * 60,
        batch_size=args.batch_size,
        lr=args.lr,
        max_length=args.max_length,
        freeze_embeddings=None if args.train_embeddings is None else not args.train_embeddings,
        tag_context=args.tag_context,
        crf=args.crf,
        tag_layers=args.tag_layers,
        tag_every_piece=args.tag_every_piece,
        teacher=tuple(args.teacher),
        distill_tags=args.distill_tags,
        distill_weight=args.distill_weight,
        label_smoothing=args.label_smoothing,
        ood_loss_weight=args.ood_loss_weight,
        tag_loss_weight=args.tag_loss_weight,
        pooling=args.pooling,
        intent_head=args.intent_head,
        cosine_margin=args.cosine_margin,
        contrastive_weight=args.contrastive_weight,
        mixup_ood_weight=args.mixup_ood_weight,
        rdrop_weight=args.rdrop_weight,
        adversarial=args.adversarial,
        token_dropout=args.token_dropout,
        value_swap=args.value_swap,
        partial_utterances=args.partial_utterances,
        average_last=args.average_last,
        layer_decay=args.layer_decay,
        lora=args.lora,
        seed=args.seed,
        limit=args.limit,
        progress=not args.quiet,
    )
    options = BuildOptions(
        data=Path(args.data),
        out=Path(args.out),
        train=config,
        domain=Path(args.domain) if args.domain else None,
        name=args.name,
        target_fer=args.target_fer,
        budget_confidence=args.budget_confidence,
        int8_max_drop=args.int8_max_drop / 100.0,
        progress=not args.quiet,
        strict=args.strict,
    )
    manifest = build(options)
    metrics = manifest["metrics"]
    if args.json:
        print(json.dumps({"artifact": str(options.out), "version": manifest["version"], "metrics": metrics,
                          "seconds": manifest["training"]["seconds"]}, indent=2))
    else:
        print(f"artifact {options.out} ({manifest['version']}), trained in {manifest['training']['seconds']:.0f}s")
        for split in ("valid", "test"):
            if split in metrics:  # None: no data for that figure (a test split without in-scope queries)
                print(f"  {split}: " + ", ".join(f"{k} {'n/a' if v is None else f'{v:.4f}'}"
                                                for k, v in metrics[split].items() if k != "n"))
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    _check_budget(args)
    from intentd.models.build import recalibrate
    manifest = recalibrate(Path(args.model), Path(args.data), args.target_fer, progress=not args.json,
                           budget_confidence=args.budget_confidence)
    ood = manifest["calibration"]["ood"]
    summary = {"version": manifest["version"], "target_false_escalation_rate": ood["target_false_escalation_rate"],
               "threshold": ood["threshold"], "valid": ood["valid"], "metrics": manifest["metrics"]}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"recalibrated {args.model} -> {manifest['version']}")
        print(f"  OOD threshold {ood['threshold']:.3f} for a {100 * ood['target_false_escalation_rate']:.1f} % "
              f"false-escalation target; on valid: {ood['valid']}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    from intentd.models.data.checks import check_known_intents, over_length, unknown_entity_types
    from intentd.models.data.schema import read_jsonl
    from intentd.models.evaluate import evaluate
    from intentd.server.engine import Engine

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1 (got {args.batch_size})")
    if args.max_chars < 1:
        raise UsageError(f"--max-chars must be at least 1 (got {args.max_chars})")
    threadpool_limits(1, user_api="blas")  # as the server does: the measured path is the served one
    if args.plot:
        from intentd.plotpath import check_plot_path

        check_plot_path(args.plot)  # before the evaluation, not after it
    engine = Engine.load(args.model, onnx_file=args.onnx_file)
    examples = read_jsonl(args.data)
    if not examples:
        raise UsageError(f"{args.data}: no examples to evaluate")
    check_known_intents(examples, engine.model.labels.intents, args.data)
    for line in unknown_entity_types(examples, engine.model.labels.entity_types, args.data):
        print(f"warning: {line}", file=sys.stderr)
    too_long = over_length(examples, args.max_chars, args.data)
    if too_long:
        print(f"warning: {too_long}", file=sys.stderr)
    report = evaluate(engine, examples, batch_size=args.batch_size, progress=not args.json)
    confusion = report.pop("_confusion")
    if args.json:  # the report first: a plot that fails to write loses no evaluation
        print(json.dumps(report, indent=2), flush=True)
    else:
        _print_eval(report)
    if args.plot:
        from intentd.models.plots import eval_plot

        eval_plot({**report, "_confusion": confusion}, args.plot)
        if not args.json:
            print(f"plot: {args.plot}")
    return 0


def _print_eval(report: dict) -> None:
    from intentd.models.calibrate import BUDGET_CONFIDENCE, needed_for_budget

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.2f} %"

    print(f"{report['n']} examples ({report['n_in_scope']} in scope, {report['n_out_of_scope']} out of scope)")
    print(f"  intent accuracy      {pct(report['intent_accuracy'])}  (classification alone {pct(report['classification_accuracy'])})")
    print(f"  entity F1            {pct(report['entity_f1'])}  (the model's tags alone "
          f"{pct(report.get('model_entity_f1'))})")
    if report.get("entity_types_not_scored"):
        print(f"  not scored           {', '.join(report['entity_types_not_scored'])} (found without the model and "
              f"never tagged in this file)")
    per_type = ", ".join(f"{t} {pct(d['accuracy'])} of {d['n']}" for t, d in (report.get("resolution_per_type") or {}).items())
    print(f"  resolution accuracy  {pct(report.get('resolution_accuracy'))}" + (f"  ({per_type})" if per_type else ""))
    print(f"  exact match          {pct(report['exact_match'])}  (classification alone "
          f"{pct(report.get('exact_match_classification'))}: the papers' sentence accuracy)")
    print(f"  oos recall           {pct(report['oos_recall'])}")
    escalation = report.get("escalation") or {}
    reasons = ", ".join(f"{name} {pct(rate)}" for name, rate in (escalation.get("by_reason") or {}).items() if rate)
    budget, confidence = escalation.get("budget"), escalation.get("budget_confidence")
    held = f" with {100 * confidence:.0f} % confidence" if confidence else ""
    if escalation.get("budget_attainable") is False:
        held += (f", not guaranteed: calibrated on {escalation.get('calibration_in_scope')} in-scope validation "
                 f"queries, {needed_for_budget(budget, confidence or BUDGET_CONFIDENCE)} needed")
    routed = escalation.get("routed_by_policy")
    print(f"  false escalations    {pct(report['false_escalation_rate'])}"
          + (f"  (budget {pct(budget)}{held}" + (f"; {reasons}" if reasons else "") + ")" if budget is not None else "")
          + (f"; routed by policy, rightly: {pct(routed)}" if routed else ""))
    auroc = report["ood_auroc"]
    print(f"  OOD AUROC            {'n/a' if auroc is None else f'{auroc:.4f}'}")
    ece = report["calibration"]["ece"]
    print(f"  ECE                  {'n/a' if ece is None else f'{ece:.4f}'}")
    lat = report["latency"]["single_query_ms"]
    print(f"  latency (batch 1)    p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms")
    if report["confused_pairs"]:
        print("  most confused:")
        for pair in report["confused_pairs"][:5]:
            print(f"    {pair['gold']} -> {pair['predicted']}: {pair['count']}")


def _cmd_analyze(args: argparse.Namespace) -> int:
    """One query through the serving path: the request is checked as the server checks it, and
    `--json` prints the JSON form of the AnalyzeResponse the server would send."""
    import dataclasses
    import datetime as dt

    from google.protobuf import json_format

    from intentd.protogen import import_stubs
    from intentd.server import convert
    from intentd.server.admission import REFERENCE_YEARS, admit
    from intentd.server.batcher import Result
    from intentd.server.engine import Engine
    from intentd.server.errors import InvalidRequest
    from intentd.server.resolve.dates import local_time
    from intentd.server.resolve.resolver import time_zone

    if not 0 <= args.top_k <= 1000:
        raise UsageError(f"--top-k must be 0 (the default, 5) to 1000 (got {args.top_k})")
    if args.max_chars < 1:
        raise UsageError(f"--max-chars must be at least 1 (got {args.max_chars})")
    try:
        args.text.encode("utf-8")
    except UnicodeEncodeError as exc:  # argv bytes that are not UTF-8 arrive as lone surrogates
        byte = ord(exc.object[exc.start]) - 0xDC00  # Python's stand-in for an undecodable byte
        raise UsageError(f"text: not valid UTF-8 (byte 0x{byte:02x} at character {exc.start})") from None
    pb2, _ = import_stubs()
    request = pb2.AnalyzeRequest(text=args.text, top_k=args.top_k, time_zone=args.timezone or "",
                                 locale=args.locale or "")
    if args.previous_intent or args.slot or args.missing or args.session_id:  # a turn of a conversation, as a chat backend sends it
        slots = {}
        for item in args.slot:
            name, sep, value = item.partition("=")
            if not sep:
                raise UsageError(f"--slot {item!r}: expected NAME=VALUE (a slots_used entry, e.g. amount='50 USD')")
            slots[name] = value
        request.context.CopyFrom(pb2.RequestContext(session_id=args.session_id or "",
                                                    previous_intent=args.previous_intent or "", filled_slots=slots,
                                                    slots_missing=args.missing))
    if args.reference_time:
        try:
            reference = dt.datetime.fromisoformat(args.reference_time)
        except ValueError:
            raise UsageError(f"--reference-time {args.reference_time!r} is not ISO 8601") from None
        lo, hi = REFERENCE_YEARS  # before any zone arithmetic, which overflows at the years 1 and 9999
        if not lo <= reference.year <= hi:
            raise UsageError(f"reference_time: outside the years {lo}..{hi}")
        if reference.tzinfo is None:  # a local time: of --timezone when given
            if not args.timezone:
                raise UsageError("--reference-time without a UTC offset needs --timezone (whose local time it is)")
            try:
                reference = local_time(reference, time_zone(args.timezone))  # a skipped wall time moves on by the gap
            except Exception:  # noqa: BLE001 - an unknown zone is reported by admission below
                pass
        if reference.tzinfo is not None:
            request.reference_time.FromDatetime(reference.astimezone(dt.timezone.utc))
    try:
        text, options = admit(request, max_chars=args.max_chars, default_top_k=5, max_top_k=1000)
    except InvalidRequest as exc:
        raise UsageError(str(exc)) from None
    engine = Engine.load(args.model, onnx_file=args.onnx_file)
    if options.previous_intent and options.previous_intent not in engine.model.labels.intents:
        # the server ignores it too (a backend's stale context must not fail the turn); here a person typed it
        print(f"warning: --previous-intent {options.previous_intent!r} is not one of the model's intents: "
              "answered as a first turn", file=sys.stderr)
    analysis = engine.analyze([text], dataclasses.replace(options, partial=args.partial))[0]
    if args.json:
        reply = convert.analyze_response(analysis, convert.timing(Result(analysis, batch_size=1), 0.0),
                                         engine.ood_threshold)
        reply.ClearField("timing")  # no server, no server timing
        print(json_format.MessageToJson(reply, ensure_ascii=False, indent=2))
    else:
        p = analysis.prediction
        print(f"intent: {p.intent} ({p.confidence:.3f})" + ("  [OUT OF SCOPE]" if p.is_ood else ""))
        if analysis.follow_up is not None:
            print(f"follow-up: {analysis.follow_up.kind} of {analysis.follow_up.intent}")
        for e in analysis.entities:
            print(f"  {e.type}: {e.text!r} [{e.start}, {e.end})" + (f" -> {e.resolution}" if e.resolution else ""))
        if analysis.escalation.escalate:
            print(f"escalate to {analysis.escalation.tier}: {analysis.escalation.reason} ({analysis.escalation.detail})")
        if analysis.response:
            print(f"response: {analysis.response.text}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from intentd.server.config import Settings

    settings = Settings.from_args(args)  # ConfigError: one line, exit 2
    logging.getLogger().setLevel(settings.log_level.upper())
    from intentd.server.app import serve
    from intentd.server.signals import ignore_from_now

    code = serve(settings)
    ignore_from_now()
    return code


class _DefaultsShown(argparse.HelpFormatter):
    """Every option's default in --help, unless its help already says it in words ("default:
    from the data's size") or it has none worth saying (unset, off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Its sub-command parsers are of its class, so every --help shows the defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsShown)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="intentd", description="intentd: real-time intent and entity service "
                                     "(train, evaluate, serve, load-test)")
    parser.add_argument("--version", action="version", version=f"intentd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="data tools").add_subparsers(dest="data_command", required=True)
    imp = data.add_parser("import", help="convert labelled data to canonical JSONL splits")
    imp.add_argument("--format", required=True, help="jsonl, bio, clinc or csv")
    imp.add_argument("src", help="a file or a folder of split files")
    imp.add_argument("--out", required=True, help="folder for train.jsonl, valid.jsonl, test.jsonl")
    imp.add_argument("--text-column", default="text")
    imp.add_argument("--intent-column", default="intent")
    imp.add_argument("--ood-label", default="oos", help="intent label meaning out-of-scope")
    imp.add_argument("--seed", type=int, default=13)
    imp.add_argument("--valid-fraction", type=finite_float, default=0.1)
    imp.add_argument("--test-fraction", type=finite_float, default=0.1)
    imp.add_argument("--strict", action="store_true",
                     help="warnings about the data or domain.yaml are errors (nothing is written)")
    from intentd.models.config import TrainConfig

    imp.add_argument("--max-length", type=int, default=TrainConfig.max_length, metavar="N",
                     help="the `intentd train --max-length` you will train with: longer texts (in the bundled "
                          "base's word pieces) are warned about, as training cuts them")
    imp.set_defaults(func=_cmd_import)

    ini = sub.add_parser("init", help="start a domain: a commented domain.yaml and a sample train.jsonl")
    ini.add_argument("dir", help="folder to write them to (created if needed; existing files are never overwritten)")
    ini.add_argument("--name", help="the domain's name (default: the folder's)")
    ini.set_defaults(func=_cmd_init)

    from intentd.models.config import INTENT_HEADS, POOLINGS, TrainConfig

    tr = sub.add_parser("train", help="fine-tune, export, calibrate and evaluate a joint model")
    tr.add_argument("--data", required=True, help="folder with train.jsonl, valid.jsonl [, test.jsonl, domain.yaml]")
    tr.add_argument("--out", required=True, help="artifact folder to write")
    tr.add_argument("--base", help="local Hugging Face model folder (default: bundled all-MiniLM-L6-v2)")
    tr.add_argument("--domain", help="domain.yaml (default: <data>/domain.yaml when present)")
    tr.add_argument("--name", help="artifact name (default: the domain's name or the data folder's)")
    tr.add_argument("--epochs", type=int, default=TrainConfig.epochs,
                    help="epochs (default: from the data's size, with early stopping)")
    tr.add_argument("--patience", type=int, default=TrainConfig.patience, metavar="N",
                    help="stop after N epochs without a better validation score (0: never)")
    tr.add_argument("--time-budget", type=finite_float, metavar="MINUTES",
                    help="fit the whole build (training, export, calibration, evaluation) into this time")
    tr.add_argument("--batch-size", type=int, default=TrainConfig.batch_size,
                    help="examples a step (default: 16 when the data has entity spans, else 32)")
    tr.add_argument("--lr", type=finite_float, default=TrainConfig.lr,
                    help=f"the encoder's learning rate (the heads': {TrainConfig.head_lr:g})")
    tr.add_argument("--max-length", type=int, default=TrainConfig.max_length,
                    help="word pieces a training text is cut to")
    tr.add_argument("--train-embeddings", action=argparse.BooleanOptionalAction, default=None,
                    help="also fine-tune the word embeddings (default: when the data has entity spans)")
    tr.add_argument("--tag-context", action=argparse.BooleanOptionalAction, default=None,
                    help="the entity tag head also reads the sentence embedding (default: when the data "
                         "has entity spans)")
    tr.add_argument("--crf", action="store_true",
                    help="train the entity tags with a linear-chain CRF (learned tag transitions, used in "
                         "decoding too)")
    tr.add_argument("--tag-layers", type=int, default=TrainConfig.tag_layers, metavar="N",
                    help="the entity tag head reads the token states of the last N encoder layers (default 1)")
    tr.add_argument("--tag-every-piece", action="store_true",
                    help="the tag loss also reads a word's later word pieces (their word's I- tag, or O)")
    tr.add_argument("--teacher", metavar="ARTIFACT", action="append", default=[],
                    help="also learn this artifact's intent distributions (distillation; same intents, any base); "
                         "repeat it to learn the mean of several (an ensemble teacher)")
    tr.add_argument("--distill-tags", action=argparse.BooleanOptionalAction, default=TrainConfig.distill_tags,
                    help="with --teacher and entity spans (not with --crf): the entity tags follow the "
                         "teacher's too")
    tr.add_argument("--distill-weight", type=finite_float, default=TrainConfig.distill_weight, metavar="W",
                    help="share of the intent loss that follows the teacher (with --teacher)")
    tr.add_argument("--label-smoothing", type=finite_float, default=TrainConfig.label_smoothing, metavar="E",
                    help="label smoothing of the intent loss (0: none; default: 0.1 when the training data "
                         "has no out-of-scope examples, else 0)")
    tr.add_argument("--ood-loss-weight", type=finite_float, default=TrainConfig.ood_loss_weight, metavar="W",
                    help="weight of outlier exposure on out-of-scope training examples (0: none)")
    tr.add_argument("--tag-loss-weight", type=finite_float, default=TrainConfig.tag_loss_weight, metavar="W",
                    help="weight of the entity tag loss against the intent loss (data with entity spans)")
    tr.add_argument("--contrastive-weight", type=finite_float, default=TrainConfig.contrastive_weight, metavar="W",
                    help="weight of a supervised contrastive loss on the sentence embedding (0: off)")
    tr.add_argument("--rdrop-weight", type=finite_float, default=TrainConfig.rdrop_weight, metavar="W",
                    help="R-Drop: weight of the agreement between two dropout passes of each batch (0: off; "
                         "twice the training compute)")
    tr.add_argument("--adversarial", type=finite_float, default=TrainConfig.adversarial, metavar="EPS",
                    help="FGM: also train on each batch with its word embeddings moved EPS (L2, per text) "
                         "along the loss gradient (0: off; twice the training compute)")
    tr.add_argument("--token-dropout", type=finite_float, default=TrainConfig.token_dropout, metavar="P",
                    help="replace this share of each training text's word pieces by [MASK], so an intent is "
                         "read from its context too (0: off; default: 0.1 when the training data has no entity "
                         "spans, else 0)")
    tr.add_argument("--value-swap", type=finite_float, default=TrainConfig.value_swap, metavar="P",
                    help="each pass, swap each mention of an open entity type (most of its mentions distinct "
                         "values: names) for another value of its type seen in training with this chance, so "
                         "tags are learnt from context (0: off; default: 0.5 when the data has entity spans)")
    tr.add_argument("--partial-utterances", type=finite_float, default=TrainConfig.partial_utterances, metavar="P",
                    help="each pass, this share of the texts also trains as an ASR partial (its first few words, "
                         "marked as a partial, with the whole utterance's intent), so AnalyzeStream's partials "
                         "get the final intent's odds and `stable` waits for the words that decide it (0: off)")
    tr.add_argument("--mixup-ood-weight", type=finite_float, default=TrainConfig.mixup_ood_weight, metavar="W",
                    help="weight of outlier exposure on synthetic outliers: sentence embeddings of two "
                         "different intents mixed (0: off)")
    tr.add_argument("--pooling", choices=POOLINGS, default=TrainConfig.pooling,
                    help="sentence embedding from the token states: their mean (default) or the first token's")
    tr.add_argument("--intent-head", choices=INTENT_HEADS, default=TrainConfig.intent_head,
                    help="intent logits from a linear layer (default) or scaled cosines trained with a margin")
    tr.add_argument("--cosine-margin", type=finite_float, default=TrainConfig.cosine_margin, metavar="M",
                    help="with --intent-head cosine: the margin taken off the true intent's cosine in training")
    tr.add_argument("--average-last", type=int, default=TrainConfig.average_last, metavar="N",
                    help="also try the mean weights of the last N epochs; kept when better on valid")
    tr.add_argument("--layer-decay", type=finite_float, default=TrainConfig.layer_decay, metavar="F",
                    help="layer-wise learning-rate decay: each encoder layer below the top learns F times "
                         "slower than the one above it (1: one rate)")
    tr.add_argument("--lora", action="store_true", help="LoRA adapters instead of full fine-tuning (bigger bases)")
    tr.add_argument("--seed", type=int, default=13, help="seed of the initialisation, shuffling and dropout")
    tr.add_argument("--limit", type=int, help="train on N examples spread across the intents only (smoke tests)")
    tr.add_argument("--target-fer", type=finite_float,
                    help="target false escalation rate on in-scope validation queries "
                         "(default: the domain's escalation.target_false_escalation_rate, else 0.05)")
    tr.add_argument("--budget-confidence", type=finite_float, metavar="P", help=BUDGET_CONFIDENCE_HELP)
    tr.add_argument("--int8-max-drop", type=finite_float, default=0.5, help="max INT8 accuracy loss, in points")
    tr.add_argument("--json", action="store_true")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.add_argument("--strict", action="store_true", help="warnings about the data or domain.yaml are errors")
    tr.set_defaults(func=_cmd_train)

    ca = sub.add_parser("calibrate", help="refit calibration and the OOD threshold of an artifact (no retraining)")
    ca.add_argument("--model", required=True, help="artifact folder (rewritten in place)")
    ca.add_argument("--data", required=True, help="folder with train.jsonl and valid.jsonl (as for train)")
    ca.add_argument("--target-fer", type=finite_float,
                    help="target false escalation rate on in-scope validation queries (default: the domain's "
                         "escalation.target_false_escalation_rate, else 0.05; not the artifact's current budget)")
    ca.add_argument("--budget-confidence", type=finite_float, metavar="P", help=BUDGET_CONFIDENCE_HELP)
    ca.add_argument("--json", action="store_true")
    ca.set_defaults(func=_cmd_calibrate)

    ev = sub.add_parser("eval", help="evaluate an artifact on labelled JSONL through the serving path")
    ev.add_argument("--model", required=True, help="artifact folder")
    ev.add_argument("--data", required=True, help="canonical JSONL file")
    ev.add_argument("--onnx-file", help="evaluate another ONNX file of the artifact (e.g. model.fp32.onnx)")
    ev.add_argument("--batch-size", type=int, default=64,
                    help="queries a forward pass (the answers do not depend on it)")
    ev.add_argument("--max-chars", type=int, default=2000,
                    help="warn of texts longer than this, which `serve --max-text-chars` refuses")
    ev.add_argument("--plot", help="write a confusion + reliability PNG here")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_cmd_eval)

    an = sub.add_parser("analyze", help="one query's full result")
    an.add_argument("--model", required=True)
    an.add_argument("text")
    an.add_argument("--top-k", type=int, default=5)
    an.add_argument("--reference-time", help="ISO 8601 reference time for relative dates (without a UTC offset: "
                                             "a local time of --timezone; default: now, as the server reads a "
                                             "request without one)")
    an.add_argument("--timezone", help="IANA time zone name")
    an.add_argument("--locale", help="BCP-47 locale, as in the request's `locale` field")
    an.add_argument("--onnx-file", help="analyze with another ONNX file of the artifact (e.g. model.int8.onnx)")
    an.add_argument("--max-chars", type=int, default=2000, help="longest accepted text, as `serve --max-text-chars`")
    an.add_argument("--partial", action="store_true",
                    help="read the text as an AnalyzeStream partial (is_final false), as the server does")
    an.add_argument("--previous-intent", metavar="INTENT",
                    help="the conversation's previous intent (context.previous_intent): answer this turn as a follow-up")
    an.add_argument("--slot", action="append", default=[], metavar="NAME=VALUE",
                    help="a slot the previous answer filled (context.filled_slots; repeatable), e.g. "
                         "--slot amount='50 USD' --slot account=checking")
    an.add_argument("--missing", action="append", default=[], metavar="NAME",
                    help="a slot the previous answer asked for (context.slots_missing, as its slots_missing "
                         "returned them; repeatable, in order), e.g. --missing date")
    an.add_argument("--session-id", help="context.session_id")
    an.add_argument("--json", action="store_true")
    an.set_defaults(func=_cmd_analyze)

    from intentd.server import config as serve_config

    sv = sub.add_parser("serve", help="serve an artifact over gRPC (flags, INTENTD_* variables or --config FILE)")
    serve_config.add_arguments(sv)
    sv.set_defaults(func=_cmd_serve)

    from intentd import health as health_cmd  # light: grpcio is imported only when it runs

    he = sub.add_parser("health", help="exit 0 when a server's gRPC health service says SERVING (probes, scripts)")
    health_cmd.add_arguments(he)
    he.set_defaults(func=health_cmd.run)

    try:
        from intentd.loadtest import cli as loadtest_cli
    except ImportError:
        loadtest_cli = None
    if loadtest_cli is not None:
        lt = sub.add_parser("loadtest", help="open-loop latency load test and SLO gate")
        loadtest_cli.add_arguments(lt)
        lt.set_defaults(func=loadtest_cli.run)
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse, with an unknown flag reported by the sub-command it was given to (its usage, not
    the top level's): `intentd serve --port 1` shows `serve`'s flags."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        owner = parser
        for action in parser._subparsers._group_actions if parser._subparsers else ():
            name = getattr(args, action.dest, None)
            owner = action.choices.get(name, parser) if name else parser
            nested = [a for a in owner._actions if isinstance(a, argparse._SubParsersAction)]
            if nested and getattr(args, nested[0].dest, None):
                owner = nested[0].choices[getattr(args, nested[0].dest)]
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI timeout, `timeout`, a Kubernetes Job) in a command that writes files or runs a
    load: raised where the command is, so its clean-up runs as for Ctrl-C (a build left its ~90 MB
    staging folder beside --out, hidden, for good; a load test died by the signal without a word).
    A KeyboardInterrupt, as an event loop lets one out of a signal handler (uvloop logged any other
    exception and ran on)."""


@contextlib.contextmanager
def _stopped_by_sigterm(command: list[str]):
    """For the commands that write files, and the load test; the handler before is put back after
    (tests call main())."""
    if (command not in (["train"], ["calibrate"], ["data"], ["loadtest"])
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def stop(_signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up short
        raise Terminated()

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _stopped_within(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Terminated):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def main(argv: list[str] | None = None) -> int:
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    if words[:1] == ["serve"]:  # before the parser's imports and the model load: a SIGTERM then still drains
        from intentd.server.signals import catch_early

        catch_early()
    try:
        args = _parse(argv)  # ~0.1 s of imports: a Ctrl-C here printed a traceback
    except KeyboardInterrupt:
        print("intentd: interrupted", file=sys.stderr)
        return 130
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with _stopped_by_sigterm(words[:1]):
            return args.func(args)
    except Terminated:
        print("intentd: stopped (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("intentd: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `intentd analyze --json | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # typed errors from the library: one clear line, non-zero exit
        if _stopped_within(exc):  # raised inside code that wraps what it catches (a class body's __set_name__)
            print("intentd: stopped (SIGTERM)", file=sys.stderr)
            return 128 + signal.SIGTERM
        from intentd.errors import IntentdError

        if isinstance(exc, (IntentdError, UsageError, OSError)):
            print(f"intentd: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
