#!/usr/bin/env bash
# build.sh: release builds and the project's one test command.
#   ./build.sh          build $DIST/cis490-<version>-linux-{amd64,arm64}.tar.gz and
#                       $DIST/release.json, the manifest `cis490-receiver release sign`
#                       signs (DIST=dist; ARCHES="amd64" builds only the architectures named)
#   ./build.sh test     every check CI runs: formatting, go mod tidy, vet, staticcheck, tests,
#                       static binaries, the deployment checks in test/deploy/checks.sh, then
#                       the units under systemd in a container (test/systemd/run.sh;
#                       it needs root and prints SKIP without)
# Releases are reproducible: two builds of one commit give identical tarballs.
set -euo pipefail
cd "$(dirname "$0")"

BINARIES=(receiver shipper doctor)
read -ra ARCHES <<< "${ARCHES:-amd64 arm64}"
DIST=${DIST:-dist}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
# Every file in a release carries the commit's time, so the bytes depend on
# the commit alone, not on when or where it was built.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# net/http without its bundled HTTP/2 (≈ 550 KB a binary): the shipper
# speaks HTTP/1.1 (ForceAttemptHTTP2 is off), the receiver sits behind Caddy
# or serves TLS to shippers only, and the release budget needs the room
# (docs/BENCHMARKS.md).
TAGS=nethttpomithttp2
LDFLAGS="-s -w -buildid= -X cis490/internal/buildinfo.Version=${VERSION} -X cis490/internal/buildinfo.Commit=${COMMIT}"

# build_bins OUTDIR ARCH: static, stripped binaries cis490-<name> in OUTDIR.
build_bins() {
  local out=$1 arch=$2
  mkdir -p "$out"
  for b in "${BINARIES[@]}"; do
    if [ ! -d "$b" ]; then
      echo "build.sh: ./$b is missing: a release needs all of ${BINARIES[*]}" >&2
      return 1
    fi
    CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -tags "$TAGS" -ldflags "$LDFLAGS" -o "$out/cis490-$b" "./$b"
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

# release ARCH: stage bin/ etc/ scripts/ README.md SHA256SUMS under
# cis490-<version>-linux-<arch>/ and pack it reproducibly into $DIST.
release() {
  local arch=$1 name="cis490-${VERSION}-linux-$1" f
  local stage="$WORK/stage-$arch" top="$WORK/stage-$arch/$name"
  rm -rf "$stage"
  build_bins "$top/bin" "$arch"
  check_static "$top/bin"
  chmod 0755 "$top/bin"/*
  install -d -m 0755 "$top/etc" "$top/scripts"
  for f in etc/*; do install -m 0644 "$f" "$top/etc/"; done
  for f in scripts/*.sh; do install -m "$([ -x "$f" ] && echo 0755 || echo 0644)" "$f" "$top/scripts/"; done
  if [ ! -f README.md ]; then echo "build.sh: README.md is missing" >&2; return 1; fi
  install -m 0644 README.md "$top/README.md"
  (cd "$top" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
  chmod 0644 "$top/SHA256SUMS"
  find "$top" -type d -exec chmod 0755 {} +
  mkdir -p "$DIST"
  tar -C "$stage" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --format=gnu -cf - "$name" | compress > "$DIST/$name.tar.gz"
  echo "$DIST/$name.tar.gz"
}

# compress: gzip stdin to stdout, without a name or time in the header. pigz
# -11 (zopfli) makes a gzip stream about 4 % smaller than gzip -9, which keeps
# the tarballs under their 9 MiB budget (docs/BENCHMARKS.md); its output
# depends only on the input, so releases stay reproducible. Any gunzip reads it.
# FAST_GZIP=1 trades size for time in tests that build releases to install.
compress() {
  if [ "${FAST_GZIP:-}" = 1 ]; then
    gzip -n -1 # tests that build releases only to install them
  elif command -v pigz >/dev/null; then
    pigz -11 -I 3 -n -c
  elif [ "${ALLOW_GZIP:-}" = 1 ]; then
    gzip -n -9
  else
    echo "build.sh: pigz is missing (apt-get install pigz; ALLOW_GZIP=1 builds larger tarballs with gzip -9)" >&2
    return 1
  fi
}

# manifest: $DIST/release.json (SPEC §15) naming each arch's tarball with
# its size and sha256; created_at is the commit's time, so it is reproducible.
manifest() {
  local arch f sep="" created
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%S.000Z)
  {
    printf '{\n  "type": "cis490-release",\n  "version": "%s",\n  "commit": "%s",\n  "created_at": "%s",\n  "artifacts": {' \
      "$VERSION" "$COMMIT" "$created"
    for arch in "${ARCHES[@]}"; do
      f="cis490-${VERSION}-linux-$arch.tar.gz"
      printf '%s\n    "linux-%s": {\n      "file": "%s",\n      "sha256": "%s",\n      "bytes": %s\n    }' \
        "$sep" "$arch" "$f" "$(sha256sum "$DIST/$f" | cut -d' ' -f1)" "$(stat -c %s "$DIST/$f")"
      sep=,
    done
    printf '\n  }\n}\n'
  } > "$DIST/release.json"
  echo "$DIST/release.json"
}

cmd_test() {
  echo "== gofmt"
  local unformatted
  # shellcheck disable=SC2046 # one argument per file
  unformatted=$(gofmt -l $(git ls-files '*.go'))
  if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; return 1; fi
  echo "== go mod tidy"
  if ! go mod tidy -diff; then echo "go.mod or go.sum is not tidy: run go mod tidy" >&2; return 1; fi
  echo "== go vet"
  go vet ./...
  echo "== staticcheck"
  if command -v staticcheck >/dev/null; then staticcheck ./...
  else echo "SKIP staticcheck: not installed (.ci/run installs it with go install)"; fi
  echo "== cross-compile (static)"
  for arch in "${ARCHES[@]}"; do build_bins "$WORK/$arch" "$arch"; check_static "$WORK/$arch"; done
  echo "== go test -race"
  go test -race -count=1 -timeout 20m ./...
  echo "== bench/slowfs (its own module: the emulated slow-flush device)"
  (cd bench/slowfs && go vet ./... && go test -race -count=1 ./...)
  echo "== deployment checks"
  VERSION=$VERSION COMMIT=$COMMIT SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH test/deploy/checks.sh
  echo "== units under systemd (container)"
  VERSION=$VERSION COMMIT=$COMMIT SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH test/systemd/run.sh
}

case "${1:-build}" in
  test) cmd_test ;;
  build) for arch in "${ARCHES[@]}"; do release "$arch"; done; manifest ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac
