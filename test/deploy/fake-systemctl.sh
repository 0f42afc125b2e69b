#!/usr/bin/env bash
# fake-systemctl.sh: a recording stand-in for systemctl in installer tests.
# Appends each command line to $SYSTEMCTL_LOG and keeps which units are
# active as files in $SYSTEMCTL_STATE, so `is-active` answers like systemd:
# a unit is active after start/restart until stop or disable --now.
# With $SYSTEMCTL_PROBE set, start/restart first runs `$SYSTEMCTL_PROBE UNIT`:
# when it fails the unit ends inactive and its NRestarts (`show -p NRestarts
# --value`) goes up by one, as systemd's Restart=on-failure would count a
# service that exits at start.
set -euo pipefail
: "${SYSTEMCTL_LOG:?}" "${SYSTEMCTL_STATE:?}"
mkdir -p "$SYSTEMCTL_STATE"
echo "$*" >> "$SYSTEMCTL_LOG"
verb=$1
shift
now=0 quiet=0 units=() skip=0
for a in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  case "$a" in
    --now) now=1 ;;
    --quiet|-q) quiet=1 ;;
    -p) skip=1 ;;
    -*) ;;
    *) units+=("$a") ;;
  esac
done
case "$verb" in
  start|restart)
    for u in "${units[@]}"; do
      if [ -n "${SYSTEMCTL_PROBE:-}" ] && ! $SYSTEMCTL_PROBE "$u" >/dev/null 2>&1; then
        rm -f "$SYSTEMCTL_STATE/$u"
        n=$(cat "$SYSTEMCTL_STATE/$u.restarts" 2>/dev/null || echo 0)
        echo $((n + 1)) > "$SYSTEMCTL_STATE/$u.restarts"
      else
        : > "$SYSTEMCTL_STATE/$u"
      fi
    done ;;
  show) # only `show -p NRestarts --value UNIT`
    for u in "${units[@]}"; do cat "$SYSTEMCTL_STATE/$u.restarts" 2>/dev/null || echo 0; done ;;
  stop) for u in "${units[@]}"; do rm -f "$SYSTEMCTL_STATE/$u"; done ;;
  disable) if [ "$now" = 1 ]; then for u in "${units[@]}"; do rm -f "$SYSTEMCTL_STATE/$u"; done; fi ;;
  is-active)
    for u in "${units[@]}"; do
      if [ ! -e "$SYSTEMCTL_STATE/$u" ]; then [ "$quiet" = 1 ] || echo inactive; exit 3; fi
    done
    [ "$quiet" = 1 ] || echo active ;;
  daemon-reload|enable) ;;
  *) echo "fake-systemctl: unsupported verb $verb" >&2; exit 1 ;;
esac
