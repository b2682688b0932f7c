#!/bin/sh
# Build the intentd serving image from deploy/Containerfile (what `make image` runs).
#
# Settings, from the environment (make passes its variables of the same names):
#   IMAGE       name:tag to build (default intentd:latest)
#   BASE        base image (default docker.io/library/python:3.11-slim); a local image works
#               on a host that reaches no registry (see deploy/make-base-image.sh)
#   MODEL       artifact folder baked in at /models/current (default models/artifacts/example)
#   GPU         1: onnxruntime-gpu in place of onnxruntime (default 0)
#   ENGINE      podman or docker (default: podman if installed, else a docker whose daemon answers)
#   CA_BUNDLE   CA bundle pip trusts inside the build, e.g. a TLS-intercepting proxy's (default:
#               PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE, else the system bundle when present)
#   PIP_CONF    a pip.conf for the build, e.g. a private index (default: one made from
#               PIP_INDEX_URL / PIP_EXTRA_INDEX_URL when those are set)
# The CA bundle and pip settings reach the build as secrets: never stored in a layer.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${IMAGE:-intentd:latest}
BASE=${BASE:-docker.io/library/python:3.11-slim}
MODEL=${MODEL:-$root/models/artifacts/example}
GPU=${GPU:-0}

die() { echo "build-image: $*" >&2; exit 2; }

engine=${ENGINE:-}
if [ -z "$engine" ]; then
    if command -v podman >/dev/null 2>&1; then
        engine=podman
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        engine=docker
    else
        die "neither podman nor a running docker found"
    fi
fi
[ -f "$MODEL/manifest.json" ] || die "$MODEL: not an artifact (no manifest.json); build one with make model"
case "$GPU" in 0|1) ;; *) die "GPU=$GPU: expected 0 or 1" ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/intentd-image.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
ctx=$work/context
mkdir -p "$ctx/src"

# The context holds only what the image needs: sources (no virtualenv, no build outputs, no
# other artifacts) and a copy of the artifact, readable by the image's non-root user.
(cd "$root" && tar -cf - --exclude=__pycache__ --exclude='*.pyc' --exclude='models/artifacts' \
    --exclude='server/_proto' pyproject.toml README.md intentd server models loadtest proto) \
    | tar -xf - -C "$ctx/src"
cp -RL "$MODEL" "$ctx/artifact"
chmod -R u+rwX,go+rX,go-w "$ctx/artifact"
cp "$root/deploy/Containerfile" "$ctx/Containerfile"
version=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("version", "unknown"))' \
    "$MODEL/manifest.json")

set -- build -f "$ctx/Containerfile" -t "$IMAGE" \
    --build-arg "BASE=$BASE" --build-arg "GPU=$GPU" --build-arg "MODEL_VERSION=$version"

ca=${CA_BUNDLE:-${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}}
if [ -z "$ca" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    ca=/etc/ssl/certs/ca-certificates.crt
fi
if [ -n "$ca" ]; then
    [ -f "$ca" ] || die "CA bundle $ca: no such file"
    set -- "$@" --secret "id=ca,src=$ca"
fi

pipconf=${PIP_CONF:-}
if [ -z "$pipconf" ] && { [ -n "${PIP_INDEX_URL:-}" ] || [ -n "${PIP_EXTRA_INDEX_URL:-}" ]; }; then
    pipconf=$work/pip.conf
    (umask 077 && {
        echo "[global]"
        [ -z "${PIP_INDEX_URL:-}" ] || echo "index-url = $PIP_INDEX_URL"
        [ -z "${PIP_EXTRA_INDEX_URL:-}" ] || echo "extra-index-url = $PIP_EXTRA_INDEX_URL"
    } > "$pipconf")
fi
if [ -n "$pipconf" ]; then
    [ -f "$pipconf" ] || die "PIP_CONF $pipconf: no such file"
    set -- "$@" --secret "id=pipconf,src=$pipconf"
fi

if [ "$engine" = docker ]; then
    # podman hands the host's proxy variables to RUN steps itself; docker needs them as
    # arguments (predefined ones, kept out of the image history).
    for name in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
        eval "value=\${$name:-}"
        [ -z "$value" ] || set -- "$@" --build-arg "$name=$value"
    done
    export DOCKER_BUILDKIT=1  # RUN --mount (secrets, cache) needs BuildKit
fi

echo "build-image: $engine building $IMAGE from $BASE with $MODEL ($version)$( [ "$GPU" = 1 ] && echo ', GPU')"
"$engine" "$@" "$ctx"
