#!/usr/bin/env bash
# Go stubs for intentd.v1 from the repository's proto/, into intentdv1/ (a build product, not
# committed). Needs protoc-gen-go and protoc-gen-go-grpc on PATH (Debian: protoc-gen-go,
# protoc-gen-go-grpc; elsewhere `go install` google.golang.org/protobuf/cmd/protoc-gen-go and
# google.golang.org/grpc/cmd/protoc-gen-go-grpc) and protoc (Debian: protobuf-compiler), or
# PROTOC set to another protoc command, e.g. PROTOC="$PWD/.venv/bin/python -m grpc_tools.protoc".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto="$here/../../proto"
module="$(sed -n 's/^module //p' "$here/go.mod")"
package="$module/intentdv1"  # the .proto names no go_package: its Go import path is set here
read -r -a protoc <<< "${PROTOC:-protoc}"
for tool in "${protoc[0]}" protoc-gen-go protoc-gen-go-grpc; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found on PATH" >&2; exit 2; }
done
rm -rf "$here/intentdv1"
"${protoc[@]}" --proto_path="$proto" \
  --go_out="$here" --go_opt="module=$module" --go_opt="Mintentd/v1/intentd.proto=$package" \
  --go-grpc_out="$here" --go-grpc_opt="module=$module" --go-grpc_opt="Mintentd/v1/intentd.proto=$package" \
  intentd/v1/intentd.proto
