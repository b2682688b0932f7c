"""domain.yaml as a file beside the data: find it, load and validate it, and carry it along.

`validate_domain` makes the checks the server makes when it loads an artifact (response templates,
entity kinds, catalogs, patterns), plus the values training and evaluation read later (the
escalation budget, time zones, the evaluation reference time), so a bad domain stops an import or
a training run before any work, with the file and, where it can tell, the line. Whether the domain
fits the data is a separate question: `checks.check_domain`.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from intentd.errors import IntentdError
from intentd.textfile import NotUtf8, read_utf8

from .schema import DataError

DOMAIN_FILE = "domain.yaml"


def load_domain(path: str | Path) -> dict:
    """Read and validate a domain file; DataError naming the file (and line) when it is wrong."""
    path = Path(path)
    try:
        text = read_utf8(path)
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", path) from exc
    except NotUtf8 as exc:
        raise DataError(str(exc), path, exc.line) from None
    try:
        domain = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise DataError(f"invalid YAML: {problem}", path, mark.line + 1 if mark else None) from None
    if not isinstance(domain, dict) or not isinstance(domain.get("intents"), dict):
        raise DataError("a domain file needs a top-level 'intents' mapping (intent name -> spec)", path)
    validate_domain(domain, path)
    return domain


def validate_domain(domain: dict, path: str | Path) -> None:
    """Everything about the domain on its own that the server, `intentd train` or `intentd eval`
    would otherwise stop on later (or after training). Raises DataError."""
    from intentd.server.resolve import Resolver
    from intentd.server.resolve.resolver import time_zone
    from intentd.server.respond import validate_templates

    try:
        validate_templates(domain)
        Resolver(domain)
    except IntentdError as exc:
        raise DataError(str(exc), path, _line_of_problem(str(exc), path)) from None

    lines = key_lines(path)
    escalation = domain.get("escalation") or {}
    if not isinstance(escalation, dict):
        raise DataError("'escalation' must be a mapping", path, lines.get(("escalation",)))
    ranges = {  # what calibration (pick_threshold) and the escalation policy accept
        "target_false_escalation_rate": ("in [0, 1)", lambda x: 0.0 <= x < 1.0),
        "budget_confidence": ("in (0, 1)", lambda x: 0.0 < x < 1.0),
        "low_confidence_threshold": ("in [0, 1]", lambda x: 0.0 <= x <= 1.0),
        "ambiguity_margin": ("in [0, 1]", lambda x: 0.0 <= x <= 1.0),
    }
    for key, (interval, inside) in ranges.items():
        value = escalation.get(key)
        if key in escalation and (isinstance(value, bool) or not isinstance(value, (int, float)) or not inside(value)):
            raise DataError(f"escalation.{key} must be a number {interval}, got {value!r}", path,
                            lines.get(("escalation", key)))
    for intent, spec in (domain.get("intents") or {}).items():
        tier = spec.get("escalate") if isinstance(spec, dict) else None
        if tier is not None and not (isinstance(tier, str) and tier.strip()):
            raise DataError(f"intent {intent!r}: escalate names a tier (e.g. escalate: human), got {tier!r}", path,
                            lines.get(("intents", str(intent), "escalate"), lines.get(("intents", str(intent)))))
    for reason in ("out_of_distribution", "low_confidence", "ambiguous"):
        tier = escalation.get(reason)
        if tier is not None and not (isinstance(tier, str) and tier.strip()):
            raise DataError(f"escalation.{reason} names a tier, got {tier!r}", path, lines.get(("escalation", reason)))
    tiers = escalation.get("tiers")
    if tiers is not None and not (isinstance(tiers, list) and all(isinstance(t, str) and t for t in tiers)):
        raise DataError("escalation.tiers must be a list of tier names", path, lines.get(("escalation", "tiers")))

    evaluation = domain.get("evaluation") or {}
    if not isinstance(evaluation, dict):
        raise DataError("'evaluation' must be a mapping", path, lines.get(("evaluation",)))
    for where, zone in ((("time_zone",), domain.get("time_zone")), (("evaluation", "time_zone"), evaluation.get("time_zone"))):
        if zone is None:
            continue
        try:
            time_zone(str(zone))
        except ValueError:
            raise DataError(f"{'.'.join(where)}: {zone!r} is not an IANA time zone (e.g. Europe/Berlin)", path,
                            lines.get(where)) from None
    raw = evaluation.get("reference_time")
    if raw is not None and not isinstance(raw, dt.datetime):
        try:
            dt.datetime.fromisoformat(str(raw))
        except ValueError:
            raise DataError(f"evaluation.reference_time: {raw!r} is not an ISO 8601 date-time "
                            f"(e.g. 2026-11-29T12:00:00-05:00)", path, lines.get(("evaluation", "reference_time"))) from None


def key_lines(path: str | Path) -> dict[tuple[str, ...], int]:
    """The 1-based line of every mapping key, by its path of keys: ("intents", "greeting") -> 12.
    Empty when the file cannot be read or parsed (line numbers are a help, never a requirement)."""
    try:
        root = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    out: dict[tuple[str, ...], int] = {}

    def walk(node, prefix: tuple[str, ...]) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                at = prefix + (str(key.value),)
                out.setdefault(at, key.start_mark.line + 1)
                if len(at) < 3:
                    walk(value, at)

    walk(root, ())
    return out


def _line_of_problem(message: str, path: str | Path) -> int | None:
    """The line of the intent or entity type a validation message starts with, when it names one."""
    lines = key_lines(path)
    problem = message.split(": ", 1)[-1] if message.startswith("invalid response templates: ") else message
    quoted = re.match(r"(entity|intent) '([^']+)'", problem)
    if quoted:
        return lines.get(("entities" if quoted.group(1) == "entity" else "intents", quoted.group(2)))
    if problem.startswith("handoff:"):
        return lines.get(("escalation", "handoff_response"))
    name = re.match(r"([^.:\s]+)[.:]", problem)
    return lines.get(("intents", name.group(1))) if name else None


@dataclass(frozen=True)
class DomainPlan:
    """Which domain.yaml an import into `target`'s folder ends up with, and so which one to check.

    action: "copy" (the source's, into the output folder), "same" (already there, identical),
    "kept" (the output folder's own differs from the source's and is left alone: it may hold
    edits), "existing" (no source domain; the output folder's is used), "none".
    `source` is where the source's domain.yaml is (or would be).
    """

    action: str
    source: Path
    target: Path

    @property
    def checked(self) -> Path | None:
        """The file `intentd train --data <output folder>` will read."""
        if self.action == "none":
            return None
        return self.source if self.action == "copy" else self.target

    def note(self) -> str | None:
        if self.action == "copy":
            return f"domain.yaml: copied {self.source} -> {self.target}"
        if self.action == "same":
            return f"domain.yaml: {self.target} already matches {self.source}"
        if self.action == "kept":
            return (f"domain.yaml: kept {self.target}, which differs from {self.source} "
                    f"(delete it and import again to take the source's)")
        if self.action == "existing":
            return f"domain.yaml: none beside the source; checked the existing {self.target}"
        return None


def plan_domain(src: str | Path, out_dir: str | Path) -> DomainPlan:
    """The source's domain.yaml is in the source folder, or beside a source file."""
    src = Path(src)
    source = (src if src.is_dir() else src.parent) / DOMAIN_FILE
    target = Path(out_dir) / DOMAIN_FILE
    if not source.is_file():
        return DomainPlan("existing" if target.is_file() else "none", source, target)
    if not target.exists():
        return DomainPlan("copy", source, target)
    if target.is_file() and (os.path.samefile(source, target) or filecmp.cmp(source, target, shallow=False)):
        return DomainPlan("same", source, target)
    if not target.is_file():
        raise DataError("exists and is not a file", target)
    return DomainPlan("kept", source, target)


def place_domain(plan: DomainPlan) -> None:
    """Copy the source domain into the output folder when the plan says so (written beside its
    final name, then renamed, like the splits)."""
    if plan.action != "copy":
        return
    partial = plan.target.with_name(f".{DOMAIN_FILE}.partial")
    try:
        partial.write_bytes(plan.source.read_bytes())
        os.replace(partial, plan.target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DataError(f"cannot write: {exc.strerror}", plan.target) from exc
