#!/usr/bin/env bash
# Prints the path of a go command that can build this module. A go of 1.21
# or later fetches the toolchain go.mod asks for by itself (GOTOOLCHAIN). An
# older one (Debian 12 ships 1.19) or none: fetch the toolchain module from
# the Go module proxy into the cache and use that.
set -euo pipefail
want=go1.26.8
if command -v go >/dev/null; then
  v=$(go env GOVERSION 2>/dev/null || echo go1.0)
  minor=$(echo "$v" | sed -E 's/^go1\.([0-9]+).*/\1/')
  if [ "${minor:-0}" -ge 21 ] 2>/dev/null; then command -v go; exit 0; fi
fi
cache=${INITKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/initkit}
dir=$cache/toolchain/$want
if [ ! -x "$dir/bin/go" ]; then
  "$(dirname "$0")/deps.sh" curl unzip ca-certificates >&2
  proxy=${GOPROXY:-https://proxy.golang.org}; proxy=${proxy%%[,|]*}
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  echo "ensure-go: fetching $want from $proxy" >&2
  curl -fsSL -o "$tmp/tc.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-$want.linux-amd64.zip"
  unzip -q "$tmp/tc.zip" -d "$tmp/x"
  mkdir -p "$(dirname "$dir")"
  mv "$tmp/x/golang.org/toolchain@v0.0.1-$want.linux-amd64" "$dir"
  chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/* 2>/dev/null || true
fi
echo "$dir/bin/go"
