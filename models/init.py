"""`intentd init DIR`: a commented domain.yaml and a small sample data file to start a domain from.

The two files (models/templates/) are a working example: `intentd data import --format jsonl DIR
--out DATA` and `intentd train --data DATA` accept them as they are, and the tests hold them to
that. Existing files are never overwritten.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

from intentd.errors import IntentdError

FILES = ("domain.yaml", "train.jsonl")
NAME_PLACEHOLDER = "__NAME__"


class InitError(IntentdError):
    """The target folder cannot take the template (a file is in the way, or it cannot be written)."""


def domain_name(folder: Path) -> str:
    """The domain's name from its folder: lower case, runs of other characters as one "_"."""
    name = re.sub(r"[^a-z0-9]+", "_", folder.resolve().name.lower()).strip("_")
    return name or "my_domain"


def init_domain(folder: str | Path, name: str | None = None) -> list[Path]:
    """Write the template files into `folder` (created if needed); return their paths.

    Refuses, writing nothing, when any of them already exists.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InitError(f"{folder}: exists and is not a folder")
    targets = [folder / file for file in FILES]
    present = [p for p in targets if p.exists()]
    if present:
        raise InitError(f"{present[0]}: already exists; intentd init never overwrites a file "
                        f"(choose another folder or move it away)")
    templates = resources.files("intentd.models") / "templates"
    contents = {p: (templates / p.name).read_text(encoding="utf-8") for p in targets}
    yaml_name = json.dumps(name or domain_name(folder))  # a double-quoted YAML scalar
    contents[folder / "domain.yaml"] = contents[folder / "domain.yaml"].replace(NAME_PLACEHOLDER, yaml_name, 1)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for path, text in contents.items():
            with path.open("x", encoding="utf-8") as out:  # "x": fails rather than overwrite a file made meanwhile
                out.write(text)
            written.append(path)
    except OSError as exc:
        raise InitError(f"{exc.filename or folder}: cannot write: {exc.strerror}") from exc
    return written
