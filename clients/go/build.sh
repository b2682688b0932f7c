#!/usr/bin/env bash
# Generates the stubs (generate.sh) and builds bin/chat-backend.
#
# Two ways to find grpc-go and protobuf-go:
#   debian   GOPATH mode over the sources Debian packages in /usr/share/gocode (golang-google-grpc-dev,
#            golang-google-protobuf-dev): offline, no module proxy. The default where they are installed.
#   modules  ordinary Go modules (go.mod): needs the module proxy or a filled module cache.
# INTENTD_GO_MODE=debian|modules chooses.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
module="$(sed -n 's/^module //p' "$here/go.mod")"
debian_src=/usr/share/gocode
mode="${INTENTD_GO_MODE:-}"
if [[ -z "$mode" ]]; then
  if [[ -d "$debian_src/src/google.golang.org/grpc" ]]; then mode=debian; else mode=modules; fi
fi

"$here/generate.sh"
mkdir -p "$here/bin"
case "$mode" in
  debian)
    # grpc-go 1.33 accepts either Debian build of github.com/golang/protobuf, and apt picks 1.3; its
    # codec cannot decode protoc-gen-go 1.28 messages (the example would panic on the first reply).
    if [[ -e "$debian_src/src/github.com/golang/protobuf/proto/table_unmarshal.go" ]]; then
      echo "build.sh: Debian's golang-github-golang-protobuf-1-3-dev is installed; grpc-go needs" \
        "golang-github-golang-protobuf-1-5-dev instead (apt-get install golang-github-golang-protobuf-1-5-dev)" >&2
      exit 2
    fi
    # GOPATH mode finds a package by its import path under GOPATH/src: link this folder there
    # (outside the checkout, so the tree holds no symlink loop; Go's build cache persists anyway).
    gopath="$(mktemp -d)"
    trap 'rm -rf "$gopath"' EXIT
    mkdir -p "$gopath/src/$(dirname "$module")"
    ln -sfn "$here" "$gopath/src/$module"
    cd "$gopath/src/$module"
    GO111MODULE=off GOPATH="$gopath:$debian_src" GOFLAGS= go build -o "$here/bin/chat-backend" ./cmd/chat-backend
    ;;
  modules)
    cd "$here"
    [[ -f go.sum ]] || go mod tidy
    go build -o "$here/bin/chat-backend" ./cmd/chat-backend
    ;;
  *)
    echo "build.sh: INTENTD_GO_MODE must be debian or modules (got $mode)" >&2
    exit 2
    ;;
esac
echo "built $here/bin/chat-backend ($mode)"
