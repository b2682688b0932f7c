"""The artifact directory: what `intentd train` writes and `intentd serve` / `intentd eval` read.

manifest.json names every file with its SHA-256; loading checks them all, so a missing, truncated
or swapped file fails at load time with a message naming it, never at request time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from intentd.errors import IntentdError

from .labels import Labels

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class ArtifactError(IntentdError):
    """The artifact directory cannot be served: the message says which file and why."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Artifact:
    root: Path
    manifest: dict
    labels: Labels
    domain: dict | None
    ood_stats: dict[str, np.ndarray]

    @property
    def model_path(self) -> Path:
        return self.root / self.manifest["model"]

    @property
    def tokenizer_path(self) -> Path:
        return self.root / self.manifest["tokenizer"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def name(self) -> str:
        return self.manifest.get("name", self.root.name)

    @property
    def calibration(self) -> dict:
        return self.manifest.get("calibration", {})

    @property
    def max_length(self) -> int:
        return int(self.manifest.get("serve_max_length", 128))


def load_artifact(root: str | Path, model: str | None = None) -> Artifact:
    """Load and verify an artifact. `model` picks another listed ONNX file (e.g. the FP32 one)."""
    root = Path(root)
    if not root.is_dir():
        raise ArtifactError(f"{root}: not a directory (expected an artifact built by `intentd train`)")
    manifest_path = root / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{manifest_path}: missing (is {root} an artifact directory?)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{manifest_path}: corrupt ({exc})") from None
    for key in ("format_version", "model", "tokenizer", "labels", "files", "version"):
        if key not in manifest:
            raise ArtifactError(f"{manifest_path}: missing key {key!r}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_path}: format_version {manifest['format_version']} is not supported (expected {FORMAT_VERSION})"
        )
    if model is not None:
        if model not in manifest["files"]:
            raise ArtifactError(f"{manifest_path}: {model!r} is not one of the artifact's files")
        manifest = {**manifest, "model": model}
    for rel, digest in manifest["files"].items():
        path = root / rel
        if not path.is_file():
            raise ArtifactError(f"{path}: missing (listed in {MANIFEST})")
        if sha256(path) != digest:
            raise ArtifactError(f"{path}: corrupt (SHA-256 does not match {MANIFEST})")
    for key in ("model", "tokenizer", "labels"):
        if manifest[key] not in manifest["files"]:
            raise ArtifactError(f"{manifest_path}: {key} file {manifest[key]!r} is not listed under 'files'")
    try:
        labels = Labels.from_json(json.loads((root / manifest["labels"]).read_text(encoding="utf-8")))
    except (ValueError, KeyError) as exc:
        raise ArtifactError(f"{root / manifest['labels']}: invalid ({exc})") from None
    domain = None
    if manifest.get("domain"):
        try:
            domain = yaml.safe_load((root / manifest["domain"]).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ArtifactError(f"{root / manifest['domain']}: invalid YAML ({exc})") from None
    ood_stats: dict[str, np.ndarray] = {}
    if manifest.get("ood_stats"):
        try:
            with np.load(root / manifest["ood_stats"], allow_pickle=False) as npz:
                ood_stats = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{root / manifest['ood_stats']}: unreadable ({exc})") from None
    return Artifact(root, manifest, labels, domain, ood_stats)
