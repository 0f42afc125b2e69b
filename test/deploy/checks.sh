#!/usr/bin/env bash
# checks.sh: the deployment checks of `./build.sh test`: shell scripts, units,
# the Caddy example, reproducible releases, arm64 binaries, both installers.
# A missing tool prints "SKIP <check>: <reason>"; .ci/run installs them all.
#   test/deploy/checks.sh [CHECK...]   default: all, in the order below
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=test/deploy
# Pin what build.sh would derive from git, so every build here is of one
# version even while the work tree moves.
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export VERSION COMMIT SOURCE_DATE_EPOCH
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

have() { command -v "$1" >/dev/null; }
skip() { echo "SKIP $1: $2"; }
fail() { echo "FAIL $*" >&2; exit 1; }

# release_tarball ARCH: the release tarball built for ARCH by check_repro.
release_tarball() { ls "$WORK/dist1"/cis490-*-linux-"$1".tar.gz; }

check_shellcheck() {
  have shellcheck || { skip shellcheck "shellcheck not installed"; return; }
  local files=(build.sh .ci/run scripts/*.sh "$HERE"/*.sh test/systemd/*.sh)
  [ -d bench ] && mapfile -t -O "${#files[@]}" files < <(find bench -name '*.sh' | LC_ALL=C sort)
  shellcheck -x -S warning "${files[@]}"
  echo "ok shellcheck: ${#files[@]} scripts"
}

# scratch_root DIR: a root holding the units, stub binaries and the distro's
# own units (for targets like multi-user.target), for systemd-analyze --root.
scratch_root() {
  local root=$1 b
  mkdir -p "$root/etc/systemd/system" "$root/usr/local/bin" "$root/usr/lib/systemd"
  cp -a "$(systemd_unit_dir)" "$root/usr/lib/systemd/system"
  cp etc/*.service etc/*.timer "$root/etc/systemd/system/"
  for b in receiver shipper doctor; do
    printf '#!/bin/sh\nexit 0\n' > "$root/usr/local/bin/cis490-$b"
    chmod 0755 "$root/usr/local/bin/cis490-$b"
  done
}

systemd_unit_dir() {
  local d
  for d in /usr/lib/systemd/system /lib/systemd/system; do
    [ -f "$d/multi-user.target" ] && { echo "$d"; return; }
  done
  return 1
}

# unit_has UNIT LINE...: etc/UNIT holds each LINE exactly (SPEC §12).
unit_has() {
  local u=$1 l
  shift
  for l in "$@"; do grep -qxF "$l" "etc/$u" || fail "units: etc/$u lacks '$l'"; done
}

check_units() {
  unit_has cis490-receiver.service Type=notify "User=cis490" "ProtectSystem=strict" "NoNewPrivileges=yes"
  unit_has cis490-shipper.service Type=notify WatchdogSec=180 Restart=on-failure "ReadWritePaths=/opt/cis490/data"
  unit_has cis490-fleet-health.service Type=oneshot
  unit_has cis490-fleet-health.timer "OnCalendar=*:0/5"
  unit_has cis490-doctor-check.service Type=oneshot SupplementaryGroups=systemd-journal
  unit_has cis490-doctor-check.timer OnBootSec=10min OnUnitActiveSec=1d RandomizedDelaySec=30min
  unit_has cis490-cert-renew.service Type=oneshot "User=cis490" "ProtectSystem=strict" "ReadWritePaths=/etc/cis490/tls"
  unit_has cis490-cert-renew.timer OnBootSec=5min OnUnitActiveSec=1h RandomizedDelaySec=10min
  unit_has cis490-update.service Type=oneshot User=root ProtectSystem=strict NoNewPrivileges=yes \
    "ReadWritePaths=/usr/local/bin /opt/cis490 /etc/systemd/system /var/lib/cis490-update"
  unit_has cis490-update.timer OnBootSec=15min OnUnitActiveSec=1h RandomizedDelaySec=20min
  echo "ok units: the settings SPEC §12 names are present"
  have systemd-analyze || { skip units "systemd-analyze not installed"; return; }
  systemd_unit_dir >/dev/null || { skip units "no system unit directory"; return; }
  local root=$WORK/units out
  scratch_root "$root"
  # Any output at all (an unknown key, a missing binary) is a failure.
  out=$(cd "$root/etc/systemd/system" && systemd-analyze verify --root="$root" cis490-*.service cis490-*.timer 2>&1) ||
    fail "units: systemd-analyze verify failed: $out"
  [ -z "$out" ] || fail "units: systemd-analyze verify says: $out"
  echo "ok units: systemd-analyze verify clean"
}

# Exposure (0 = locked down, 10 = unprotected) of the two long-running
# services must stay at or below 2.0, and docs/deploy.md must show it.
check_security() {
  have systemd-analyze || { skip security "systemd-analyze not installed"; return; }
  systemd_unit_dir >/dev/null || { skip security "no system unit directory"; return; }
  local root=$WORK/security u score
  scratch_root "$root"
  for u in cis490-receiver.service cis490-shipper.service; do
    score=$(systemd-analyze security --offline=true --root="$root" "$u" 2>&1 |
      sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$score" ] || fail "security: no exposure level for $u"
    awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "security: $u exposure $score > 2.0"
    grep -q "^| \`$u\` | $score |" docs/deploy.md ||
      fail "security: docs/deploy.md does not record $u exposure $score"
    echo "ok security: $u exposure $score"
  done
}

# make_pki DIR: a CA and a server certificate it signed, enough for Caddy to
# load the example's tls directive.
make_pki() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=cis490-test-ca -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=receiver.lab.example \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:receiver.lab.example\nextendedKeyUsage=serverAuth\n' > "$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 30 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
}

check_caddy() {
  have caddy || { skip caddy "caddy not installed"; return; }
  have openssl || { skip caddy "openssl not installed"; return; }
  local d=$WORK/caddy out
  make_pki "$d"
  sed -e "s#/etc/caddy/tls/receiver.crt#$d/server.crt#" -e "s#/etc/caddy/tls/receiver.key#$d/server.key#" \
    -e "s#/etc/caddy/tls/fleet-ca.crt#$d/ca.crt#" etc/Caddyfile.example > "$d/Caddyfile"
  out=$(caddy validate --adapter caddyfile --config "$d/Caddyfile" 2>&1) || fail "caddy: validate: $out"
  out=$(caddy fmt etc/Caddyfile.example 2>/dev/null | diff etc/Caddyfile.example -) ||
    fail "caddy: etc/Caddyfile.example is not caddy-fmt formatted: $out"
  echo "ok caddy: $(caddy version | cut -d' ' -f1) validates etc/Caddyfile.example"
}

# Two builds of one commit into different directories give identical bytes.
check_repro() {
  local a f
  DIST=$WORK/dist1 ./build.sh >/dev/null
  DIST=$WORK/dist2 ./build.sh >/dev/null
  for a in amd64 arm64; do
    f=$(basename "$(release_tarball $a)")
    cmp "$WORK/dist1/$f" "$WORK/dist2/$f" || fail "repro: $f differs between two builds"
    tar -tzf "$WORK/dist1/$f" > "$WORK/list"
    grep -qx "${f%.tar.gz}/SHA256SUMS" "$WORK/list" || fail "repro: $f has no SHA256SUMS"
    echo "ok repro: $f ($(stat -c %s "$WORK/dist1/$f") bytes) is reproducible"
  done
  cmp "$WORK/dist1/release.json" "$WORK/dist2/release.json" || fail "repro: release.json differs between two builds"
  echo "ok repro: release.json is reproducible"
  check_sizes
  mkdir -p "$WORK/rel"
  tar -C "$WORK/rel" -xzf "$(release_tarball amd64)"
  (cd "$WORK/rel"/cis490-*-linux-amd64 && sha256sum --quiet -c SHA256SUMS) || fail "repro: SHA256SUMS mismatch"
}

# Release size budget (docs/BENCHMARKS.md): each tarball ≤ 9 MiB, each arm64
# binary ≤ 8 MiB.
check_sizes() {
  local f a size
  for a in amd64 arm64; do
    f=$(release_tarball $a)
    size=$(stat -c %s "$f")
    [ "$size" -le $((9 << 20)) ] || fail "size: $(basename "$f") is $size bytes, over 9 MiB"
  done
  mkdir -p "$WORK/size"
  tar -C "$WORK/size" -xzf "$(release_tarball arm64)"
  for f in "$WORK/size"/*/bin/*; do
    size=$(stat -c %s "$f")
    [ "$size" -le $((8 << 20)) ] || fail "size: arm64 $(basename "$f") is $size bytes, over 8 MiB"
    echo "ok size: arm64 $(basename "$f") $size bytes"
  done
}

check_qemu() {
  have qemu-aarch64-static || { skip qemu "qemu-aarch64-static not installed"; return; }
  local d=$WORK/arm64 b out
  mkdir -p "$d"
  tar -C "$d" -xzf "$(release_tarball arm64)"
  for b in "$d"/*/bin/*; do
    out=$(qemu-aarch64-static "$b" --version 2>&1) || fail "qemu: $b --version: $out"
    case "$out" in *"$VERSION"*) ;; *) fail "qemu: $b --version printed '$out', want version $VERSION";; esac
  done
  echo "ok qemu: arm64 binaries start ($out)"
}

check_install() {
  "$HERE/install-test.sh" "$(ls -d "$WORK/rel"/cis490-*-linux-amd64)"
}

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(shellcheck units security caddy repro qemu install)
for c in "${checks[@]}"; do
  case "$c" in
    qemu|install) [ -d "$WORK/rel" ] || check_repro ;;
  esac
  "check_$c"
done
