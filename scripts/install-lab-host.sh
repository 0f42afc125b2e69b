#!/usr/bin/env bash
# install-lab-host.sh: install or upgrade the shipper and the doctor on a lab
# host from an unpacked release (SPEC §12). Idempotent: re-run it to upgrade,
# also from /opt/cis490/scripts/ where it keeps a copy of the release.
#
#   sudo ./scripts/install-lab-host.sh               install or upgrade
#   sudo ./scripts/install-lab-host.sh --join URL TOKEN --ca-sha256 FP [--host-id H]
#                                  join the fleet first (the line `cis490-receiver
#                                  host add` prints), then install and start
#   sudo ./scripts/install-lab-host.sh --uninstall   remove units and binaries;
#                                                    configs, token, data stay
#
# DESTDIR=/scratch SYSTEMCTL=./recorder runs it into a scratch root (tests).
set -euo pipefail
RELEASE=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/install-lib.sh
. "$RELEASE/scripts/install-lib.sh"

UNITS=(cis490-shipper.service cis490-doctor-check.service cis490-doctor-check.timer
       cis490-cert-renew.service cis490-cert-renew.timer cis490-update.service cis490-update.timer)
ENABLE=(cis490-shipper.service cis490-doctor-check.timer cis490-cert-renew.timer cis490-update.timer)
BINS=(cis490-shipper cis490-doctor)
# Must match ReadWritePaths= in cis490-shipper.service and [paths] data_dir.
DATA_DIR=$HOME_DIR/data
CONFIG=$CONF_DIR/lab-host.toml
FAILED=0
TLS_DIR=$CONF_DIR/tls
# The join-only site of etc/Caddyfile.example: a host joins on this port and
# ships to the same name without it.
JOIN_SITE_PORT=8444
JOIN_URL=""
JOIN_TOKEN=""
JOIN_PIN=""
JOIN_HOST=""

# drain_unstamped: move episodes that the version gate would refuse (no
# code_version.commit) to quarantine before the new shipper starts, so it does
# not spend its first hours on certain refusals. Safe beside a running daemon.
# Under DESTDIR it runs on the scratch data directory if the binary runs on
# this machine at all, and is skipped otherwise.
drain_unstamped() {
  local bin=$DESTDIR$BIN_DIR/cis490-shipper
  local args=(quarantine-unstamped --config "$DESTDIR$CONFIG")
  if [ -n "$DESTDIR" ]; then
    args+=(--data-dir "$DESTDIR$DATA_DIR")
    if ! runnable "$bin"; then
      say "DESTDIR: $bin does not run on this machine; skipped quarantine-unstamped"
      return
    fi
  fi
  if as_service_user "$bin" "${args[@]}"; then
    say "drained unstamped episodes (quarantine-unstamped)"
  else
    warn "quarantine-unstamped failed (exit $?): run it by hand: sudo -u $SERVICE_USER $BIN_DIR/cis490-shipper quarantine-unstamped"
    FAILED=1
  fi
}

# write_join_config: a config for a host joining with --join: host_id, the
# receiver URL and the standard credential paths, the rest as the example.
write_join_config() {
  local dst=$DESTDIR$CONFIG ship_url=${JOIN_URL%/} tmp
  [ -e "$dst" ] && return
  case "$ship_url" in *:"$JOIN_SITE_PORT") ship_url=${ship_url%:"$JOIN_SITE_PORT"} ;; esac
  tmp=$(mktemp)
  sed -e "s#^url = .*#url = \"$ship_url\"#" \
      -e "s|^# token_file = .*|token_file = \"$CONF_DIR/token\"|" \
      -e "s|^# ca_bundle = .*|ca_bundle = \"$TLS_DIR/ca.crt\"|" \
      -e "s|^# client_cert = .*|client_cert = \"$TLS_DIR/client.crt\"|" \
      -e "s|^# client_key = .*|client_key = \"$TLS_DIR/client.key\"|" \
      "$RELEASE/etc/lab-host.toml.example" > "$tmp"
  if [ -n "$JOIN_HOST" ]; then sed -i "s|^# host_id = .*|host_id = \"$JOIN_HOST\"|" "$tmp"; fi
  put_new 0640 "root:$SERVICE_USER" "$tmp" "$CONFIG"
  rm -f "$tmp"
}

# join_fleet: `cis490-shipper join` with the line `host add` printed. Under
# DESTDIR it runs on a copy of the config whose paths point into DESTDIR.
join_fleet() {
  local bin=$DESTDIR$BIN_DIR/cis490-shipper config=$DESTDIR$CONFIG args
  args=(join --url "$JOIN_URL" --token "$JOIN_TOKEN")
  [ -z "$JOIN_PIN" ] || args+=(--ca-sha256 "$JOIN_PIN")
  if [ -n "$DESTDIR" ]; then
    if ! runnable "$bin"; then
      say "DESTDIR: $bin does not run on this machine; skipped join"
      return
    fi
    config=$(mktemp)
    sed -e "s#\"$CONF_DIR/#\"$DESTDIR$CONF_DIR/#g" -e "s#\"$HOME_DIR/#\"$DESTDIR$HOME_DIR/#g" "$DESTDIR$CONFIG" > "$config"
  fi
  if ! "$bin" "${args[@]}" --config "$config"; then
    [ -z "$DESTDIR" ] || rm -f "$config"
    die "join failed (above); fix it and run the same command again: the key and the join secret stay valid"
  fi
  [ -z "$DESTDIR" ] || rm -f "$config"
  say "joined the fleet at $JOIN_URL"
}

# code_repo_dropin: cis490-update.service may write the experiment checkout
# named by [update] code_repo; a drop-in adds it to the unit's ReadWritePaths=.
code_repo_dropin() {
  local repo dir=$UNIT_DIR/cis490-update.service.d tmp
  repo=$(sed -n 's/^[[:space:]]*code_repo[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$DESTDIR$CONFIG" | tail -n 1)
  if [ -z "$repo" ]; then
    rm -f "$DESTDIR$dir/code-repo.conf"
    return
  fi
  ensure_dir 0755 root:root "$dir"
  tmp=$(mktemp)
  printf '# Written by install-lab-host.sh from [update] code_repo.\n[Service]\nReadWritePaths=%s\n' "$repo" > "$tmp"
  put 0644 root:root "$tmp" "$dir/code-repo.conf"
  rm -f "$tmp"
}

case "${1:-}" in
  "") ;;
  --uninstall)
    # The update's drop-in and its release copies go with the units and the
    # release; its state (the versions that failed here) stays with the data.
    rm -rf "$DESTDIR$UNIT_DIR/cis490-update.service.d" "$DESTDIR$HOME_DIR/releases"
    uninstall; exit 0 ;;
  -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
  --join)
    [ $# -ge 3 ] || { echo "usage: $0 --join URL TOKEN --ca-sha256 FP [--host-id H]" >&2; exit 2; }
    JOIN_URL=$2 JOIN_TOKEN=$3
    shift 3
    while [ $# -gt 0 ]; do
      case "$1" in
        --ca-sha256) [ $# -ge 2 ] || { echo "$0: --ca-sha256 needs a value" >&2; exit 2; }; JOIN_PIN=$2; shift 2 ;;
        --host-id) [ $# -ge 2 ] || { echo "$0: --host-id needs a value" >&2; exit 2; }; JOIN_HOST=$2; shift 2 ;;
        *) echo "usage: $0 --join URL TOKEN --ca-sha256 FP [--host-id H]" >&2; exit 2 ;;
      esac
    done
    case "$JOIN_HOST" in *[!A-Za-z0-9._-]*) echo "$0: --host-id $JOIN_HOST is not a host id" >&2; exit 2 ;; esac
    ;;
  *) echo "usage: $0 [--join URL TOKEN --ca-sha256 FP [--host-id H]] [--uninstall]" >&2; exit 2 ;;
esac
[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] || die "run as root (sudo $0)"

check_release "${BINS[@]/#/bin/}" "${UNITS[@]/#/etc/}" etc/lab-host.toml.example
ensure_user
install_release
install_bins "${BINS[@]}"
install_units "${UNITS[@]}"

ensure_dir 0750 "root:$SERVICE_USER" "$CONF_DIR"
# The service user owns the certificate directory: cis490-cert-renew.service
# (User=cis490, ReadWritePaths=/etc/cis490/tls) swaps renewed files in there.
ensure_dir 0750 "$SERVICE_USER:$SERVICE_USER" "$TLS_DIR"
# Read-only to cis490-update.service: a stale example is no reason to fail.
put 0644 root:root "$RELEASE/etc/lab-host.toml.example" "$CONF_DIR/lab-host.toml.example" ||
  warn "could not refresh $CONF_DIR/lab-host.toml.example"
if [ -n "$JOIN_URL" ]; then write_join_config; fi
put_new 0640 "root:$SERVICE_USER" "$RELEASE/etc/lab-host.toml.example" "$CONFIG"
# This host's bearer token; a join writes the one the receiver issues, else
# register this one on the receiver ([auth.hosts]).
[ -n "$JOIN_URL" ] || new_token "$CONF_DIR/token"
ensure_dir 0750 "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"
for d in episodes outbox shipped quarantine; do
  ensure_dir 0750 "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR/$d"
done
if [ -n "$JOIN_URL" ]; then join_fleet; fi

code_repo_dropin
sysctl_run daemon-reload
sysctl_run enable "${ENABLE[@]}"
drain_unstamped
start_or_restart "${ENABLE[@]}"

[ "$FAILED" = 0 ] || die "finished with warnings (above)"
say "done; check with: cis490-doctor && cis490-shipper --ping"
