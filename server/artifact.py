"""The artifact directory: what `intentd train` writes and `intentd serve` / `intentd eval` read.

manifest.json names every file the artifact uses, with its SHA-256. Loading reads each file once,
checks its hash and hands the checked bytes on (nothing is re-read by path afterwards, so a file
swapped after the check is never used), so a missing, truncated, swapped or unlisted file fails
at load time with a message naming it, never at request time. The artifact's version is derived
from the manifest's content (every file hash, the calibration, the metrics): two artifacts with
the same version serve the same answers, and an edited manifest no longer matches its version.

Paths are confined: manifest entries are plain relative paths inside the artifact folder (no
absolute paths, no `..`, no symbolic links out of it), and only regular files are opened (a FIFO
or device in place of a file cannot block the loader).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from intentd.errors import IntentdError

from .labels import Labels

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024
# manifest keys that name a file the artifact uses; each must be listed under "files"
FILE_KEYS = ("model", "tokenizer", "labels", "domain", "ood_stats")


class ArtifactError(IntentdError):
    """The artifact directory cannot be served: the message says which file and why."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def derive_version(manifest: dict) -> str:
    """`<name>-<created date>-<12 hex digits of the manifest's content, version excluded>`."""
    body = {k: v for k, v in manifest.items() if k != "version"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    created = str(manifest.get("created") or "")[:10]
    return "-".join(part for part in (str(manifest.get("name") or "model"), created, digest[:12]) if part)


@dataclass
class Artifact:
    root: Path
    manifest: dict
    labels: Labels
    domain: dict | None
    ood_stats: dict[str, np.ndarray]
    model_bytes: bytes = field(repr=False, default=b"")
    tokenizer_json: str = field(repr=False, default="")

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


def read_regular(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes; refuses symbolic links (at the last component), FIFOs, devices and
    sockets without blocking on them. Raises OSError (ELOOP, EINVAL, EFBIG...)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)
    finally:
        os.close(fd)


def _confined(root: Path, rel: object, where: str) -> Path:
    """`rel` as a path inside `root`, or ArtifactError."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel:
        raise ArtifactError(f"{where}: {rel!r} is not a relative file path")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        raise ArtifactError(f"{where}: {rel!r} must be a path inside the artifact folder (no absolute or '..' paths)")
    path = root / pure
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ArtifactError(f"{path}: missing (listed in {MANIFEST})") from None
    if not real.is_relative_to(root.resolve()):
        raise ArtifactError(f"{path}: points outside the artifact folder")
    return path


def load_artifact(root: str | Path, model: str | None = None) -> Artifact:
    """Load and verify an artifact. `model` picks another listed ONNX file (e.g. the INT8 one)."""
    root = Path(root)
    if not root.is_dir():
        raise ArtifactError(f"{root}: not a directory (expected an artifact built by `intentd train`)")
    manifest_path = root / MANIFEST
    try:
        manifest = json.loads(read_regular(manifest_path, MAX_MANIFEST_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{manifest_path}: missing (is {root} an artifact directory?)") from None
    except OSError as exc:
        raise ArtifactError(f"{manifest_path}: cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{manifest_path}: corrupt ({exc})") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{manifest_path}: corrupt (not a JSON object)")
    for key in ("format_version", "model", "tokenizer", "labels", "files", "version"):
        if key not in manifest:
            raise ArtifactError(f"{manifest_path}: missing key {key!r}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_path}: format_version {manifest['format_version']} is not supported (expected "
            f"{FORMAT_VERSION}; rebuild it with this version's `intentd train`)"
        )
    files = manifest["files"]
    if not isinstance(files, dict):
        raise ArtifactError(f"{manifest_path}: 'files' must map file names to SHA-256 digests")
    if derive_version(manifest) != manifest["version"]:
        raise ArtifactError(f"{manifest_path}: its version does not match its content (edited after the build?)")
    if model is not None:
        if model not in files:
            raise ArtifactError(f"{manifest_path}: {model!r} is not one of the artifact's files")
        manifest = {**manifest, "model": model}
    for key in FILE_KEYS:
        rel = manifest.get(key)
        if rel is not None and rel not in files:
            raise ArtifactError(f"{manifest_path}: {key} file {rel!r} is not listed under 'files' (with its SHA-256)")

    checked: dict[str, bytes] = {}

    def read(rel: str) -> bytes:
        if rel not in checked:
            path = _confined(root, rel, str(manifest_path))
            try:
                data = read_regular(path)
            except OSError as exc:
                why = "a symbolic link: an artifact holds regular files only" if exc.errno == errno.ELOOP else (
                    f"cannot read it ({exc.strerror or exc})")
                raise ArtifactError(f"{path}: {why}") from None
            if hashlib.sha256(data).hexdigest() != files[rel]:
                raise ArtifactError(f"{path}: corrupt (SHA-256 does not match {MANIFEST})")
            checked[rel] = data
        return checked[rel]

    for rel in files:  # every listed path is confined; the files the served model uses are read and hashed
        _confined(root, rel, str(manifest_path))
    for key in FILE_KEYS:
        if manifest.get(key):
            read(manifest[key])
    try:
        labels = Labels.from_json(json.loads(read(manifest["labels"]).decode("utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{root / manifest['labels']}: invalid ({exc})") from None
    domain = None
    if manifest.get("domain"):
        try:
            domain = yaml.safe_load(read(manifest["domain"]).decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):  # the parser's message quotes the file: keep it out
            raise ArtifactError(f"{root / manifest['domain']}: invalid YAML") from None
    ood_stats: dict[str, np.ndarray] = {}
    if manifest.get("ood_stats"):
        try:
            with np.load(io.BytesIO(read(manifest["ood_stats"])), allow_pickle=False) as npz:
                ood_stats = {k: npz[k] for k in npz.files}
            missing = {"means", "precision"} - set(ood_stats)
            if missing:
                raise ValueError(f"no {', '.join(sorted(missing))}")
        except Exception as exc:  # noqa: BLE001 - numpy raises zipfile, OS, value and key errors for a bad file
            raise ArtifactError(f"{root / manifest['ood_stats']}: unreadable ({exc})") from None
    try:
        tokenizer_json = read(manifest["tokenizer"]).decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(f"{root / manifest['tokenizer']}: not UTF-8 JSON") from None
    length = manifest.get("serve_max_length", 128)
    if isinstance(length, bool) or not isinstance(length, int) or not 8 <= length <= 100_000:
        raise ArtifactError(f"{manifest_path}: serve_max_length must be a whole number of tokens from 8 to 100,000 "
                            f"(got {length!r})")
    return Artifact(root, manifest, labels, domain, ood_stats, read(manifest["model"]), tokenizer_json)
