#!/usr/bin/env bash
# build.sh: release builds and the project's one test command.
#   ./build.sh          build dist/cis490-<version>-linux-{amd64,arm64}.tar.gz
#   ./build.sh test     every check CI runs: formatting, vet, staticcheck, tests, static binaries
set -euo pipefail
cd "$(dirname "$0")"

BINARIES=(receiver shipper doctor)
ARCHES=(amd64 arm64)
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
LDFLAGS="-s -w -buildid= -X cis490/internal/buildinfo.Version=${VERSION} -X cis490/internal/buildinfo.Commit=${COMMIT}"

# build_bins OUTDIR ARCH: static, stripped binaries cis490-<name> in OUTDIR.
build_bins() {
  local out=$1 arch=$2
  mkdir -p "$out"
  for b in "${BINARIES[@]}"; do
    CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "$LDFLAGS" -o "$out/cis490-$b" "./$b"
  done
}

# check_static DIR: every binary in DIR is statically linked.
check_static() {
  local f
  for f in "$1"/*; do
    if file "$f" 2>/dev/null | grep -q 'dynamically linked'; then
      echo "build.sh: $f is dynamically linked" >&2
      return 1
    fi
    if command -v readelf >/dev/null && readelf -l "$f" | grep -q INTERP; then
      echo "build.sh: $f has an ELF interpreter (not static)" >&2
      return 1
    fi
  done
}

cmd_test() {
  echo "== gofmt"
  local unformatted
  unformatted=$(gofmt -l $(git ls-files '*.go'))
  if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; return 1; fi
  echo "== go vet"
  go vet ./...
  echo "== staticcheck"
  if command -v staticcheck >/dev/null; then staticcheck ./...
  else echo "SKIP staticcheck: not installed (.ci/run installs it with go install)"; fi
  echo "== cross-compile (static)"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  for arch in "${ARCHES[@]}"; do build_bins "$tmp/$arch" "$arch"; check_static "$tmp/$arch"; done
  echo "== go test -race"
  go test -race -count=1 -timeout 20m ./...
}

case "${1:-build}" in
  test) cmd_test ;;
  build)
    rm -rf dist && mkdir -p dist
    for arch in "${ARCHES[@]}"; do build_bins "dist/bin-$arch" "$arch"; check_static "dist/bin-$arch"; done
    ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac
