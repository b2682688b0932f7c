"""domain.yaml as a file beside the data: find it, load and validate it, and carry it along.

`validate_domain` makes the checks the server makes when it loads an artifact (the type and range
of every key, server/domain_schema.py, which covers the values training and evaluation read too:
the escalation budget, time zones, the evaluation reference time; then response templates, entity
kinds, catalogs, patterns), so a bad domain stops an import or a training run before any work,
with the file and, where it can tell, the line. Keys it does not know are warnings, and whether
the domain fits the data is a separate question: `checks.check_domain`.
"""

from __future__ import annotations

import filecmp
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from intentd.errors import IntentdError
from intentd.textfile import NotUtf8, read_utf8
from intentd.yamlfile import load_yaml

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
        domain = load_yaml(text)  # a duplicate key is an error naming its line, not the last one kept
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
    would otherwise stop on later (or after training). Raises DataError.

    The types and ranges of every key come first (server/domain_schema.py), so the checks after
    it, and training, never meet a value they would crash on."""
    from intentd.server.domain_schema import errors, line_of
    from intentd.server.escalation import EscalationPolicy
    from intentd.server.followup import FollowUps
    from intentd.server.resolve import Resolver
    from intentd.server.respond import Responder, validate_templates

    wrong = errors(domain)
    if wrong:
        more = f" (and {len(wrong) - 1} more problem(s) in this file)" if len(wrong) > 1 else ""
        raise DataError(wrong[0].message + more, path, line_of(wrong[0].path, key_lines(path)))
    try:
        validate_templates(domain)
        resolver = Resolver(domain)
        # as the server makes them (engine.py): "follow_ups.confirm: unknown intent" stopped a
        # build after its training, the first place that made them
        FollowUps(domain, resolver, Responder(domain), EscalationPolicy(domain))
    except IntentdError as exc:
        raise DataError(str(exc), path, _line_of_problem(str(exc), path)) from None


def key_lines(path: str | Path) -> dict[tuple, int]:
    """The 1-based line of every mapping key (and list item), by its path of keys:
    ("intents", "greeting") -> 12. Empty when the file cannot be read or parsed (line numbers are
    a help, never a requirement)."""
    from intentd.server.domain_schema import key_lines as lines

    return lines(path)


def _line_of_problem(message: str, path: str | Path) -> int | None:
    """The line of the intent or entity type a validation message starts with, when it names one."""
    lines = key_lines(path)
    problem = message.split(": ", 1)[-1] if message.startswith("invalid response templates: ") else message
    quoted = re.match(r"(entity|intent) '([^']+)'", problem)
    if quoted:
        return lines.get(("entities" if quoted.group(1) == "entity" else "intents", quoted.group(2)))
    if problem.startswith("handoff:"):
        return lines.get(("escalation", "handoff_response"))
    if problem.startswith("follow_ups."):  # "follow_ups.confirm: unknown intent(s) ..."
        return lines.get(tuple(problem.split(":", 1)[0].split(".", 1)))
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
    except BaseException as exc:  # a write that failed, or was stopped (Ctrl-C, SIGTERM)
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise DataError(f"cannot write: {exc.strerror}", plan.target) from exc
        raise
