#!/bin/sh
# Make a base image from Debian packages, for hosts that reach a Debian mirror but no image
# registry: Debian 12 (bookworm) ships Python 3.11. Then: make image BASE=<the name below>.
#
#   deploy/make-base-image.sh [NAME]     (default localhost/debian-python:bookworm; run as root)
#
# Needs mmdebstrap and podman (or docker): apt-get install mmdebstrap podman
set -eu
name=${1:-localhost/debian-python:bookworm}
suite=${SUITE:-bookworm}
work=$(mktemp -d "${TMPDIR:-/tmp}/intentd-base.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
# minbase: dpkg, apt and the essentials only; python3-venv brings the venv module and pip's wheel.
mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    "$suite" "$work/rootfs.tar"
engine=${ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}
"$engine" import "$work/rootfs.tar" "$name"
echo "made $name; build with: make image BASE=$name"
