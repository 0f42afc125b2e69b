#!/usr/bin/env bash
# fake-systemctl.sh: a recording stand-in for systemctl in installer tests.
# Appends each command line to $SYSTEMCTL_LOG and keeps which units are
# active as files in $SYSTEMCTL_STATE, so `is-active` answers like systemd:
# a unit is active after start/restart until stop or disable --now.
set -euo pipefail
: "${SYSTEMCTL_LOG:?}" "${SYSTEMCTL_STATE:?}"
mkdir -p "$SYSTEMCTL_STATE"
echo "$*" >> "$SYSTEMCTL_LOG"
verb=$1
shift
now=0 quiet=0 units=()
for a in "$@"; do
  case "$a" in
    --now) now=1 ;;
    --quiet|-q) quiet=1 ;;
    -*) ;;
    *) units+=("$a") ;;
  esac
done
case "$verb" in
  start|restart) for u in "${units[@]}"; do : > "$SYSTEMCTL_STATE/$u"; done ;;
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
