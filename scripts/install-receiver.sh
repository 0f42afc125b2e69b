#!/usr/bin/env bash
# install-receiver.sh: install or upgrade the receiver and its fleet-health
# timer on the Pi from an unpacked release (SPEC §12). Idempotent: re-run it
# to upgrade, also from /opt/cis490/scripts/ where it keeps a copy of the
# release.
#
#   sudo ./scripts/install-receiver.sh               install or upgrade
#   sudo ./scripts/install-receiver.sh --uninstall   remove units and binaries;
#                                                    configs, tokens, data stay
#
# DESTDIR=/scratch SYSTEMCTL=./recorder runs it into a scratch root (tests).
set -euo pipefail
RELEASE=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/install-lib.sh
. "$RELEASE/scripts/install-lib.sh"

UNITS=(cis490-receiver.service cis490-fleet-health.service cis490-fleet-health.timer)
ENABLE=(cis490-receiver.service cis490-fleet-health.timer)
BINS=(cis490-receiver)
# Must match StateDirectory= in the units and [server] data_dir.
DATA_DIR=/var/lib/cis490
CONFIG=$CONF_DIR/receiver.toml

# config_ok: the new binary accepts the config. A running receiver is not
# restarted into a config it would refuse. Skipped under DESTDIR when the
# binary does not run on this machine.
config_ok() {
  local bin=$DESTDIR$BIN_DIR/cis490-receiver
  if [ -n "$DESTDIR" ] && ! runnable "$bin"; then
    say "DESTDIR: $bin does not run on this machine; skipped check-config"
    return 0
  fi
  as_service_user "$bin" check-config --config "$DESTDIR$CONFIG"
}

case "${1:-}" in
  "") ;;
  --uninstall) uninstall; exit 0 ;;
  -h|--help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--uninstall]" >&2; exit 2 ;;
esac
[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] || die "run as root (sudo $0)"

check_release "${BINS[@]/#/bin/}" "${UNITS[@]/#/etc/}" etc/receiver.toml.example etc/Caddyfile.example
ensure_user
install_release
install_bins "${BINS[@]}"
install_units "${UNITS[@]}"

ensure_dir 0750 "root:$SERVICE_USER" "$CONF_DIR"
ensure_dir 0750 "root:$SERVICE_USER" "$CONF_DIR/tls"
# Per-host token files named in [auth.hosts]: 0600, owned by cis490.
ensure_dir 0750 "root:$SERVICE_USER" "$CONF_DIR/tokens"
put 0644 root:root "$RELEASE/etc/receiver.toml.example" "$CONF_DIR/receiver.toml.example"
put_new 0640 "root:$SERVICE_USER" "$RELEASE/etc/receiver.toml.example" "$CONFIG"
ensure_dir 0750 "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"

sysctl_run daemon-reload
sysctl_run enable "${ENABLE[@]}"
if ! config_ok; then
  die "$CONFIG is not accepted (above): fix it and re-run; nothing was restarted"
fi
start_or_restart "${ENABLE[@]}"
say "done; check with: curl -s http://127.0.0.1:8490/healthz"
