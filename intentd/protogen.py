"""Generate the Python gRPC stubs from ``proto/`` (a build step, reproducible).

The stubs are build outputs, never committed: ``proto/intentd/v1/*.proto`` is the
contract and ``server/_proto/`` (git-ignored) holds what ``grpc_tools.protoc`` makes of
it, importable as ``intentd.server._proto.intentd.v1``. protoc writes absolute imports
(``from intentd.v1 import intentd_pb2``) that only work with the output folder on
``sys.path``; one rewrite turns them into package-relative imports, so the stubs live
inside the ``intentd`` package without touching ``sys.path``.

Reproducible: the same sources and the same grpcio-tools give byte-identical files
(generated in a temporary folder, files written in sorted order, unchanged files left
untouched). A stamp file records a hash of the inputs, so :func:`ensure_stubs` only
regenerates when the contract changed.

Run it as ``python -m intentd.protogen`` (``--check`` to fail when the stubs are stale).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from intentd.errors import IntentdError

#: Folder of the versioned package inside ``proto/`` (and inside the output folder).
PROTO_PACKAGE = Path("intentd") / "v1"
#: Python package the default output folder is importable as.
STUBS_PACKAGE = "intentd.server._proto.intentd.v1"
#: Stamp with the hash of the inputs the stubs were generated from.
STAMP_NAME = "SOURCE_HASH"
#: Serialized FileDescriptorSet of the contract and its imports, beside the stubs
#: (for tools without reflection, e.g. ``grpcurl -protoset``).
DESCRIPTOR_SET_NAME = "intentd_v1.binpb"

# protoc's absolute import of a sibling module of the same proto package.
_ABSOLUTE_IMPORT = re.compile(r"^from intentd\.v1 import (\w+_pb2)\b", re.MULTILINE)


class ProtoGenError(IntentdError):
    """The stubs could not be generated or imported."""


def repo_root() -> Path:
    """The checkout holding ``proto/`` (the parent of the ``intentd`` package folder)."""
    return Path(__file__).resolve().parent.parent


def proto_dir() -> Path:
    """Root of the .proto sources (the ``--proto_path``)."""
    return repo_root() / "proto"


def default_out_dir() -> Path:
    """``server/_proto``: wherever the ``intentd.server`` package lives."""
    spec = importlib.util.find_spec("intentd.server")
    if spec is None or not spec.submodule_search_locations:
        raise ProtoGenError("package intentd.server not found; is intentd installed?")
    return Path(next(iter(spec.submodule_search_locations))) / "_proto"


def proto_files(root: Path | None = None) -> list[Path]:
    """The contract's .proto files, sorted so every run sees them in one order."""
    root = root or proto_dir()
    files = sorted((root / PROTO_PACKAGE).glob("*.proto"))
    if not files:
        raise ProtoGenError(f"no .proto files in {root / PROTO_PACKAGE}")
    return files


def source_hash(root: Path | None = None) -> str:
    """Hash of everything the output depends on: sources, generator version, this module."""
    root = root or proto_dir()
    digest = hashlib.sha256()
    digest.update(f"grpcio-tools {_tools_version()}\n".encode())
    digest.update(Path(__file__).read_bytes())
    for path in proto_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def generate(out_dir: str | Path | None = None, root: str | Path | None = None) -> list[Path]:
    """Run protoc on ``proto/intentd/v1/*.proto`` into ``out_dir`` (default ``server/_proto``).

    Returns the files of the generated set (including ``__init__.py`` files and the stamp),
    sorted. Files whose content did not change are not rewritten.
    """
    root = Path(root) if root else proto_dir()
    out = Path(out_dir) if out_dir else default_out_dir()
    sources = proto_files(root)
    with tempfile.TemporaryDirectory(prefix="intentd-protogen-") as tmp:
        _run_protoc(root, sources, Path(tmp))
        rendered = _render(Path(tmp))
    rendered[Path(STAMP_NAME)] = (source_hash(root) + "\n").encode()
    for rel in _package_inits():
        rendered[rel] = b'"""Generated gRPC stubs (python -m intentd.protogen); do not edit."""\n'
    return _write_tree(out, rendered)


def is_current(out_dir: str | Path | None = None) -> bool:
    """Whether the stubs in ``out_dir`` were generated from the current sources."""
    stamp = (Path(out_dir) if out_dir else default_out_dir()) / STAMP_NAME
    try:
        return stamp.read_text().strip() == source_hash()
    except FileNotFoundError:
        return False


def ensure_stubs() -> None:
    """Generate the default stubs when missing or stale; a no-op when they are current.

    Without the sources (an installed wheel) the installed stubs are used as they are.
    """
    if not proto_dir().is_dir():
        return
    try:
        current = is_current()
    except ProtoGenError:  # grpcio-tools missing: the version is part of the hash
        current = (default_out_dir() / PROTO_PACKAGE / "intentd_pb2.py").exists()
    if not current:
        generate()


def import_stubs() -> tuple[ModuleType, ModuleType]:
    """``(intentd_pb2, intentd_pb2_grpc)``, generating them first if needed."""
    ensure_stubs()
    try:
        pb2 = importlib.import_module(f"{STUBS_PACKAGE}.intentd_pb2")
        pb2_grpc = importlib.import_module(f"{STUBS_PACKAGE}.intentd_pb2_grpc")
    except ImportError as exc:
        raise ProtoGenError(
            f"cannot import the gRPC stubs ({exc}); run `python -m intentd.protogen`"
        ) from exc
    return pb2, pb2_grpc


def _tools_version() -> str:
    try:
        from importlib.metadata import version

        return version("grpcio-tools")
    except Exception as exc:  # PackageNotFoundError, or a broken install
        raise ProtoGenError(
            "grpcio-tools is needed to generate the stubs: pip install grpcio-tools"
        ) from exc


def _run_protoc(root: Path, sources: list[Path], out: Path) -> None:
    try:
        from grpc_tools import protoc
    except ImportError as exc:
        raise ProtoGenError(
            "grpcio-tools is needed to generate the stubs: pip install grpcio-tools"
        ) from exc
    well_known = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
    (out / PROTO_PACKAGE).mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"--proto_path={root}",
        f"--proto_path={well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        f"--descriptor_set_out={out / PROTO_PACKAGE / DESCRIPTOR_SET_NAME}",
        "--include_imports",
        *(str(path) for path in sources),
    ]
    code = protoc.main(args)
    if code != 0:
        raise ProtoGenError(f"protoc failed with exit code {code} (its message is above)")


def _render(tmp: Path) -> dict[Path, bytes]:
    """Generated files relative to the output root, imports made package-relative."""
    rendered: dict[Path, bytes] = {}
    for path in sorted(tmp.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(tmp)
        if rel.parent != PROTO_PACKAGE:
            raise ProtoGenError(f"protoc wrote an unexpected file: {rel}")
        if rel.suffix == ".binpb":
            rendered[rel] = path.read_bytes()
            continue
        text = path.read_text(encoding="utf-8")
        if rel.name.endswith("_pb2_grpc.py"):
            text, count = _ABSOLUTE_IMPORT.subn(r"from . import \1", text)
            if count == 0:
                raise ProtoGenError(f"{rel}: no `from intentd.v1 import ..._pb2` line to rewrite")
        else:
            text = _ABSOLUTE_IMPORT.sub(r"from . import \1", text)
        rendered[rel] = text.encode("utf-8")
    return rendered


def _package_inits() -> list[Path]:
    """``__init__.py`` for the output root and each folder down to the proto package."""
    inits = [Path("__init__.py")]
    parts = PROTO_PACKAGE.parts
    for depth in range(1, len(parts) + 1):
        inits.append(Path(*parts[:depth]) / "__init__.py")
    return inits


def _write_tree(out: Path, rendered: dict[Path, bytes]) -> list[Path]:
    """Write the set, only files that changed, and drop stale generated modules."""
    stubs_dir = out / PROTO_PACKAGE
    stubs_dir.mkdir(parents=True, exist_ok=True)
    for stale in sorted([*stubs_dir.glob("*_pb2*.py*"), *stubs_dir.glob("*.binpb")]):
        if stale.relative_to(out) not in rendered:
            stale.unlink()
    written = []
    for rel in sorted(rendered):
        target = out / rel
        data = rendered[rel]
        if not (target.exists() and target.read_bytes() == data):
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)  # atomic: a concurrent importer never sees half a file
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m intentd.protogen",
        description="Generate the gRPC Python stubs from proto/intentd/v1/*.proto.",
    )
    parser.add_argument("--out", type=Path, help="output root (default: server/_proto)")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the stubs are missing or stale"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            current = is_current(args.out)
            print(
                "stubs are current"
                if current
                else "stubs are stale; run python -m intentd.protogen"
            )
            return 0 if current else 1
        for path in generate(args.out):
            print(path)
    except ProtoGenError as exc:
        print(f"protogen: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
