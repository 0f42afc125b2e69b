#!/usr/bin/env bash
# install-lab-host.sh: install or upgrade the shipper and the doctor on a lab
# host from an unpacked release (SPEC §12). Idempotent: re-run it to upgrade,
# also from /opt/cis490/scripts/ where it keeps a copy of the release.
#
#   sudo ./scripts/install-lab-host.sh               install or upgrade
#   sudo ./scripts/install-lab-host.sh --uninstall   remove units and binaries;
#                                                    configs, token, data stay
#
# DESTDIR=/scratch SYSTEMCTL=./recorder runs it into a scratch root (tests).
set -euo pipefail
RELEASE=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/install-lib.sh
. "$RELEASE/scripts/install-lib.sh"

UNITS=(cis490-shipper.service cis490-doctor-check.service cis490-doctor-check.timer)
ENABLE=(cis490-shipper.service cis490-doctor-check.timer)
BINS=(cis490-shipper cis490-doctor)
# Must match ReadWritePaths= in cis490-shipper.service and [paths] data_dir.
DATA_DIR=$HOME_DIR/data
CONFIG=$CONF_DIR/lab-host.toml
FAILED=0

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

case "${1:-}" in
  "") ;;
  --uninstall) uninstall; exit 0 ;;
  -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--uninstall]" >&2; exit 2 ;;
esac
[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] || die "run as root (sudo $0)"

check_release "${BINS[@]/#/bin/}" "${UNITS[@]/#/etc/}" etc/lab-host.toml.example
ensure_user
install_release
install_bins "${BINS[@]}"
install_units "${UNITS[@]}"

ensure_dir 0750 "root:$SERVICE_USER" "$CONF_DIR"
ensure_dir 0750 "root:$SERVICE_USER" "$CONF_DIR/tls"
put 0644 root:root "$RELEASE/etc/lab-host.toml.example" "$CONF_DIR/lab-host.toml.example"
put_new 0640 "root:$SERVICE_USER" "$RELEASE/etc/lab-host.toml.example" "$CONFIG"
# This host's bearer token; register it on the receiver ([auth.hosts]).
new_token "$CONF_DIR/token"
ensure_dir 0750 "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"
for d in episodes outbox shipped quarantine; do
  ensure_dir 0750 "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR/$d"
done

sysctl_run daemon-reload
sysctl_run enable "${ENABLE[@]}"
drain_unstamped
start_or_restart "${ENABLE[@]}"

[ "$FAILED" = 0 ] || die "finished with warnings (above)"
say "done; check with: cis490-doctor && cis490-shipper --ping"
