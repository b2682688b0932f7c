"""The artifact directory: what `intentd train` writes and `intentd serve` / `intentd eval` read.

manifest.json names every file the artifact uses, with its SHA-256. Loading reads each file once,
checks its hash and hands the checked bytes on (nothing is re-read by path afterwards, so a file
swapped after the check is never used), so a missing, truncated, swapped or unlisted file fails
at load time with a message naming it, never at request time. The artifact's version is derived
from the manifest's content (every file hash, the calibration, the metrics): two artifacts with
the same version serve the same answers, and an edited manifest no longer matches its version.
Serving another of its graphs (`--onnx-file`) appends that file's name to the version
(`Artifact.version`), as that graph answers differently.

The values the server reads are checked for type and range here (a wrong one is a line naming
its key, not a traceback or NaN confidences at request time); server/model.py then checks the
graph against labels.json, ood_stats.npz and serve_max_length.

Paths are confined: manifest entries are plain relative paths inside the artifact folder (no
absolute paths, no `..`, no symbolic links out of it), and only regular files are opened (a FIFO
or device in place of a file cannot block the loader).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import io
import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from intentd.errors import IntentdError
from intentd.yamlfile import load_yaml

from .domain_schema import is_name
from .labels import Labels
from .ood import METHODS

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024
# manifest keys that name a file the artifact uses; each must be listed under "files"
FILE_KEYS = ("model", "tokenizer", "labels", "domain", "ood_stats")


class ArtifactError(IntentdError):
    """The artifact directory cannot be served: the message says which file and why. `public` says
    it without paths or values read from the files (the file's name in the artifact and, for the
    manifest, the key), for a caller that may learn no more: ReloadModel's reason."""

    def __init__(self, message: str, public: str = ""):
        super().__init__(message)
        self.public = public


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
    default_model: str = ""  # the manifest's own "model" (the served one may be another: `--onnx-file`)

    @property
    def model_path(self) -> Path:
        return self.root / self.manifest["model"]

    @property
    def tokenizer_path(self) -> Path:
        return self.root / self.manifest["tokenizer"]

    @functools.cached_property  # read on every request (cache key, answer, metrics)
    def version(self) -> str:
        """The manifest's version, plus `+<file>` when the graph served is not the manifest's own
        model: the other graph answers differently (and the calibration was fitted on the default
        one), so its answers, cache entries and drift metrics must not share a version."""
        served = self.manifest["model"]
        if served == (self.default_model or served):
            return self.manifest["version"]
        return f"{self.manifest['version']}+{served}"

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
    with _open_regular(path, limit) as f:
        return f.read(limit + 1)


def hash_regular(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """read_regular's file, hashed (SHA-256) a chunk at a time: a wrong file is found without
    holding it (a reload pointed at a folder with a 1.5 GB file in the model's place was refused,
    and left the server 1.5 GB larger)."""
    h = hashlib.sha256()
    with _open_regular(path, limit) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_regular(path: Path, limit: int):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _confined(root: Path, rel: object, where: str) -> Path:
    """`rel` as a path inside `root`, or ArtifactError."""
    outside = f"{MANIFEST}: a file it lists is not a path inside the artifact folder"
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel:
        raise ArtifactError(f"{where}: {rel!r} is not a relative file path", outside)
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        raise ArtifactError(f"{where}: {rel!r} must be a path inside the artifact folder (no absolute or '..' paths)",
                            outside)
    path = root / pure
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ArtifactError(f"{path}: missing (listed in {MANIFEST})", f"{rel}: missing") from None
    if not real.is_relative_to(root.resolve()):
        raise ArtifactError(f"{path}: points outside the artifact folder", outside)
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
        raise ArtifactError(f"{manifest_path}: missing (is {root} an artifact directory?)",
                            f"{MANIFEST}: missing") from None
    except OSError as exc:
        raise ArtifactError(f"{manifest_path}: cannot read it ({exc.strerror or exc})",
                            f"{MANIFEST}: cannot read it") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{manifest_path}: corrupt ({exc})", f"{MANIFEST}: corrupt") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{manifest_path}: corrupt (not a JSON object)", f"{MANIFEST}: corrupt")
    for key in ("format_version", "model", "tokenizer", "labels", "files", "version"):
        if key not in manifest:
            raise ArtifactError(f"{manifest_path}: missing key {key!r}", f"{MANIFEST}: missing key {key!r}")
    if isinstance(manifest["format_version"], bool) or not isinstance(manifest["format_version"], (int, float)):
        raise _bad(manifest_path, "format_version", "must be a number", manifest["format_version"])
    if manifest["format_version"] != FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_path}: format_version {manifest['format_version']} is not supported (expected "
            f"{FORMAT_VERSION}; rebuild it with this version's `intentd train`)",
            f"{MANIFEST}: format_version not supported"
        )
    files = manifest["files"]
    if not isinstance(files, dict):
        raise _bad(manifest_path, "files", "must map file names to SHA-256 digests", files)
    if derive_version(manifest) != manifest["version"]:
        raise ArtifactError(f"{manifest_path}: its version does not match its content (edited after the build?)",
                            f"{MANIFEST}: its version does not match its content")
    _check_manifest(manifest, manifest_path)
    default_model = manifest["model"]
    if model is not None:
        if model not in files:
            raise ArtifactError(f"{manifest_path}: {model!r} is not one of the artifact's files",
                                f"{MANIFEST}: the ONNX file asked for is not one of the artifact's files")
        manifest = {**manifest, "model": model}
    for key in FILE_KEYS:
        rel = manifest.get(key)
        if rel is not None and rel not in files:
            raise ArtifactError(f"{manifest_path}: {key} file {rel!r} is not listed under 'files' (with its SHA-256)",
                                f"{MANIFEST}: {key} file is not listed under 'files'")

    checked: dict[str, bytes] = {}

    def read(rel: str) -> bytes:
        if rel not in checked:
            path = _confined(root, rel, str(manifest_path))
            corrupt = ArtifactError(f"{path}: corrupt (SHA-256 does not match {MANIFEST})",
                                    f"{rel}: corrupt (SHA-256 does not match {MANIFEST})")
            try:
                if hash_regular(path) != files[rel]:  # before holding it: the file may be anything
                    raise corrupt
                data = read_regular(path)
            except OSError as exc:
                why = "a symbolic link: an artifact holds regular files only" if exc.errno == errno.ELOOP else (
                    f"cannot read it ({exc.strerror or exc})")
                raise ArtifactError(f"{path}: {why}", f"{rel}: {why.partition(' (')[0]}") from None
            if hashlib.sha256(data).hexdigest() != files[rel]:  # it changed since
                raise corrupt
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
        raise ArtifactError(f"{root / manifest['labels']}: invalid ({exc})", f"{manifest['labels']}: invalid") from None
    domain = None
    if manifest.get("domain"):
        try:
            domain = load_yaml(read(manifest["domain"]).decode("utf-8"))  # a key twice is an error
        except (yaml.YAMLError, UnicodeDecodeError) as exc:  # the parser's message quotes the file: keep it out
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            why = "a key written twice" if "duplicate key" in str(getattr(exc, "problem", "")) else "invalid YAML"
            raise ArtifactError(f"{root / manifest['domain']}{line}: {why}",
                                f"{manifest['domain']}: {why}") from None
        if domain is None:  # an empty file the manifest lists: a truncated copy, not "no domain"
            raise ArtifactError(f"{root / manifest['domain']}: empty (the manifest lists it; an artifact without a "
                                "domain lists none)", f"{manifest['domain']}: empty")
    ood_stats: dict[str, np.ndarray] = {}
    if manifest.get("ood_stats"):
        ood_path = root / manifest["ood_stats"]
        data = read(manifest["ood_stats"])
        if not data.startswith(b"PK"):  # else numpy tries it as a pickle and says so
            raise ArtifactError(f"{ood_path}: not an .npz archive (numpy.savez)",
                                f"{manifest['ood_stats']}: not an .npz archive")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                ood_stats = {k: npz[k] for k in npz.files}
            missing = {"means", "precision"} - set(ood_stats)
            if missing:
                raise ValueError(f"no {', '.join(sorted(missing))}")
        except Exception as exc:  # noqa: BLE001 - numpy raises zipfile, OS, value and key errors for a bad file
            raise ArtifactError(f"{ood_path}: unreadable ({exc})", f"{manifest['ood_stats']}: unreadable") from None
        _check_ood_stats(ood_stats, ood_path, manifest["ood_stats"], manifest["calibration"]["ood"])
    try:
        tokenizer_json = read(manifest["tokenizer"]).decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(f"{root / manifest['tokenizer']}: not UTF-8 JSON",
                            f"{manifest['tokenizer']}: not UTF-8 JSON") from None
    return Artifact(root, manifest, labels, domain, ood_stats, read(manifest["model"]), tokenizer_json,
                    default_model)


def _check_manifest(manifest: dict, path: Path) -> None:
    """Types and ranges of the manifest values the server reads. A wrong one would otherwise be a
    traceback, NaN confidences (temperature 0), an inverted ranking (below 0) or an OOD check
    that never fires (no threshold); the caller of a reload hears the key, the log the value too."""
    for key in ("model", "tokenizer", "labels"):
        if not isinstance(manifest[key], str) or not manifest[key]:
            raise _bad(path, key, "must be a file name", manifest[key])
    for key in ("domain", "ood_stats"):
        if manifest.get(key) is not None and (not isinstance(manifest[key], str) or not manifest[key]):
            raise _bad(path, key, "must be a file name or null", manifest[key])
    if not all(isinstance(digest, str) for digest in manifest["files"].values()):
        raise _bad(path, "files", "must map file names to SHA-256 digests", manifest["files"])
    if "name" in manifest and not is_name(manifest["name"]):
        raise _bad(path, "name", "must be a non-empty string on one line", manifest["name"])
    batch_dependent = manifest.get("batch_dependent", [])
    if not isinstance(batch_dependent, list) or not all(isinstance(f, str) for f in batch_dependent):
        raise _bad(path, "batch_dependent", "must be a list of file names", batch_dependent)
    marker = manifest.get("partial_marker")
    if marker is not None and (not isinstance(marker, str) or not marker):
        raise _bad(path, "partial_marker", "must be a token of the vocabulary or null", marker)
    length = manifest.get("serve_max_length", 128)
    if isinstance(length, bool) or not isinstance(length, int) or not 8 <= length <= 100_000:
        raise _bad(path, "serve_max_length", "must be a whole number of tokens from 8 to 100,000", length)
    calibration = manifest.get("calibration")
    if calibration is None and manifest.get("ood_stats"):
        raise ArtifactError(f"{path}: no calibration, so ood_stats has no OOD threshold (calibration.ood)",
                            f"{MANIFEST}: calibration missing")
    if calibration is None:
        return
    if not isinstance(calibration, dict):
        raise _bad(path, "calibration", "must be an object", calibration)
    temperature = calibration.get("temperature", 1.0)
    if not _finite(temperature) or temperature <= 0:
        raise _bad(path, "calibration.temperature", "must be a finite number above 0", temperature)
    if not manifest.get("ood_stats"):
        return
    ood = calibration.get("ood")
    if not isinstance(ood, dict):
        raise _bad(path, "calibration.ood", "must be an object (ood_stats is scored with it)", ood)
    if not _finite(ood.get("threshold")):
        # an earlier `intentd calibrate` wrote Infinity where every in-scope query was escalated
        # anyway; the model is fine, its calibration is not: built again, it gets a finite one
        raise _bad(path, "calibration.ood.threshold", "must be a finite number (an artifact calibrated by "
                   "an earlier intentd may hold Infinity: rebuild it with `intentd train`)", ood.get("threshold"))
    for part, lowest in (("center", -math.inf), ("scale", 0.0), ("weights", -math.inf)):  # absent: OODScorer's defaults
        values = ood.get(part, {})
        if (not isinstance(values, dict) or not set(values) <= set(METHODS)
                or not all(_finite(v) and v > lowest for v in values.values())):
            above = " above 0" if lowest == 0 else ""
            raise _bad(path, f"calibration.ood.{part}", f"must map OOD methods ({', '.join(METHODS)}) to finite "
                       f"numbers{above}", values)
    if ood.get("weights") == {}:
        raise _bad(path, "calibration.ood.weights", "must weigh at least one OOD method", {})


def _check_ood_stats(stats: dict[str, np.ndarray], path: Path, rel: str, ood: dict) -> None:
    """Shapes that fit together, finite numbers (one NaN makes every OOD score NaN: never flagged).
    Their rows and width against the graph's outputs: server/model.py."""
    for name in ("means", "precision", "bank"):
        array = stats.get(name)
        if array is None:
            continue
        if not np.issubdtype(array.dtype, np.number) or array.ndim != 2:
            raise ArtifactError(f"{path}: {name} must be a 2-D numeric array (got {array.dtype} of shape "
                                f"{array.shape})", f"{rel}: {name} must be a 2-D numeric array")
        if not np.isfinite(array).all():
            raise ArtifactError(f"{path}: {name} holds NaN or infinite values", f"{rel}: {name} is not finite")
    means, precision, bank = stats["means"], stats["precision"], stats.get("bank")
    dim = means.shape[1]
    problem = None
    if precision.shape != (dim, dim):
        problem = f"precision is {precision.shape[0]} x {precision.shape[1]}, means {dim}-dimensional"
    elif bank is not None and bank.shape[1] != dim:
        problem = f"bank is {bank.shape[1]}-dimensional, means {dim}-dimensional"
    elif bank is None and "knn" in ood.get("weights", {}):
        problem = "no bank, which the k-NN score in manifest.json calibration.ood.weights needs"
    if problem is not None:
        raise ArtifactError(f"{path}: {problem}", f"{rel}: {problem}")


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bad(path: Path, key: str, requirement: str, value: object) -> ArtifactError:
    """A manifest value of the wrong type or range: the key, what it must be, and what it is."""
    shown = json.dumps(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    kind = {str: ", a string", bool: ", a boolean", list: ", a list", dict: ", an object"}.get(type(value), "")
    return ArtifactError(f"{path}: {key} {requirement} (got {shown}{kind})", f"{MANIFEST}: {key} {requirement}")
