# shellcheck shell=bash
# install-lib.sh: the steps install-lab-host.sh and install-receiver.sh share.
# Sourced, not run. The caller sets RELEASE (the unpacked release: bin/, etc/,
# scripts/ side by side) before sourcing.
#
# Environment:
#   DESTDIR   install into this scratch root instead of / (tests, packaging).
#             The cis490 user is then not created and nothing is chowned.
#   SYSTEMCTL the systemctl to call (default: systemctl; under DESTDIR the
#             calls are only printed, and units count as inactive, unless
#             SYSTEMCTL is set).

set -euo pipefail
umask 022

DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
if [ -z "${SYSTEMCTL:-}" ] && [ -z "$DESTDIR" ]; then SYSTEMCTL=systemctl; fi
SYSTEMCTL=${SYSTEMCTL:-}
SERVICE_USER=cis490
# The release is also kept here, so the remediation the receiver sends
# (sudo /opt/cis490/scripts/install-lab-host.sh) re-runs the installer.
HOME_DIR=/opt/cis490
CONF_DIR=/etc/cis490
BIN_DIR=/usr/local/bin
UNIT_DIR=/etc/systemd/system

say() { printf '%s: %s\n' "${0##*/}" "$*"; }
warn() { printf '%s: WARNING: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# sysctl_run ARGS...: run $SYSTEMCTL (a command, possibly with arguments),
# or only print the call under DESTDIR without SYSTEMCTL.
sysctl_run() {
  if [ -z "$SYSTEMCTL" ]; then
    say "DESTDIR: would run: systemctl $*"
    [ "$1" != is-active ]
    return
  fi
  # shellcheck disable=SC2086 # SYSTEMCTL may carry arguments
  $SYSTEMCTL "$@"
}

# check_release FILE...: the release holds every named file and its
# SHA256SUMS matches, so a truncated scp is caught before anything changes.
check_release() {
  local f
  for f in "$@"; do
    [ -e "$RELEASE/$f" ] || die "$RELEASE/$f missing: run me from an unpacked release (bin/, etc/, scripts/)"
  done
  if [ -f "$RELEASE/SHA256SUMS" ] && command -v sha256sum >/dev/null; then
    (cd "$RELEASE" && sha256sum --quiet -c SHA256SUMS) || die "$RELEASE/SHA256SUMS does not match: copy the release again"
  fi
}

# ensure_user: create the cis490 system user and group once. Under DESTDIR
# the host's user database is left alone.
ensure_user() {
  if [ -n "$DESTDIR" ]; then
    say "DESTDIR set: not creating user $SERVICE_USER"
    return
  fi
  if getent passwd "$SERVICE_USER" >/dev/null; then return; fi
  local group=(--user-group)
  if getent group "$SERVICE_USER" >/dev/null; then group=(--gid "$SERVICE_USER"); fi
  useradd --system "${group[@]}" --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin --comment "cis490 fleet transport" "$SERVICE_USER"
  say "created system user $SERVICE_USER"
}

# owner_args OWNER:GROUP: install(1) ownership flags, none under DESTDIR.
owner_args() {
  [ -n "$DESTDIR" ] && return
  printf '%s\n' -o "${1%%:*}" -g "${1#*:}"
}

# ensure_dir MODE OWNER:GROUP DIR: create DIR (under DESTDIR) and set its mode
# and owner every run, so a loosened mode is tightened again.
# A directory already as wanted is left untouched, so a re-run from
# cis490-update.service, to which /etc/cis490 is read-only, passes.
ensure_dir() {
  local mode=$1 owner=$2 dir=$DESTDIR$3
  local -a own
  if [ -d "$dir" ] && [ "$(stat -c %a "$dir")" = "${mode#0}" ] &&
     { [ -n "$DESTDIR" ] || [ "$(stat -c %U:%G "$dir")" = "$owner" ]; }; then
    return
  fi
  mapfile -t own < <(owner_args "$owner")
  install -d -m "$mode" "${own[@]}" "$dir"
}

# put MODE OWNER:GROUP SRC DST: install SRC as DST (under DESTDIR) only when
# the content differs, and never SRC onto itself (running from the install
# location). Modes and owners are set either way.
put() {
  local mode=$1 owner=$2 src=$3 dst=$DESTDIR$4
  local -a own
  mapfile -t own < <(owner_args "$owner")
  if [ -e "$dst" ] && { [ "$src" -ef "$dst" ] || cmp -s "$src" "$dst"; }; then
    chmod "$mode" "$dst"
    [ -n "$DESTDIR" ] || chown "$owner" "$dst"
    return
  fi
  install -m "$mode" "${own[@]}" "$src" "$dst"
  say "installed $4"
}

# put_new MODE OWNER:GROUP SRC DST: install SRC as DST only when DST does not
# exist: configs and tokens belong to the operator once written.
put_new() {
  local mode=$1 owner=$2 src=$3 dst=$DESTDIR$4
  local -a own
  if [ -e "$dst" ]; then return; fi
  mapfile -t own < <(owner_args "$owner")
  install -m "$mode" "${own[@]}" "$src" "$dst"
  say "installed $4 from ${src##*/} (edit it)"
}

# install_release: copy the release into $HOME_DIR so the installer can be
# re-run from there; a no-op when running from $HOME_DIR itself.
install_release() {
  local f
  ensure_dir 0755 root:root "$HOME_DIR"
  if [ "$RELEASE" -ef "$DESTDIR$HOME_DIR" ]; then return; fi
  while IFS= read -r f; do
    case "$f" in */*) ensure_dir 0755 root:root "$HOME_DIR/${f%/*}" ;; esac
    put "$(stat -c %a "$RELEASE/$f")" root:root "$RELEASE/$f" "$HOME_DIR/$f"
  done < <(release_files)
}

# manifest_files SUMS: the paths a SHA256SUMS file lists.
manifest_files() { awk '{ sub(/^[0-9a-f]+ [ *]/, ""); print }' "$1"; }

# release_files: the release's files relative to RELEASE, from SHA256SUMS
# (plus SHA256SUMS itself), or every file when there is no manifest.
release_files() {
  if [ -f "$RELEASE/SHA256SUMS" ]; then
    manifest_files "$RELEASE/SHA256SUMS"
    echo SHA256SUMS
  else
    (cd "$RELEASE" && find bin etc scripts -type f | LC_ALL=C sort)
  fi
}

# remove_release: delete the files a release put into $HOME_DIR (listed in
# its SHA256SUMS), leaving everything else there, data included.
remove_release() {
  local home=$DESTDIR$HOME_DIR f
  [ -f "$home/SHA256SUMS" ] || return 0
  while IFS= read -r f; do rm -f "$home/$f"; done < <(manifest_files "$home/SHA256SUMS")
  rm -f "$home/SHA256SUMS"
  for f in bin etc scripts; do rmdir "$home/$f" 2>/dev/null || true; done
  say "removed the release from $HOME_DIR"
}

# install_units UNIT...: unit files from the release's etc/.
install_units() {
  local u
  ensure_dir 0755 root:root "$UNIT_DIR"
  for u in "$@"; do put 0644 root:root "$RELEASE/etc/$u" "$UNIT_DIR/$u"; done
}

# install_bins NAME...: binaries from the release's bin/.
install_bins() {
  local b
  ensure_dir 0755 root:root "$BIN_DIR"
  for b in "$@"; do put 0755 root:root "$RELEASE/bin/$b" "$BIN_DIR/$b"; done
}

# new_token PATH: a random 256-bit hex token at PATH (mode 0600, owned by the
# service user) unless a token is already there.
new_token() {
  local dst=$DESTDIR$1 tmp
  local -a own
  if [ -e "$dst" ]; then return; fi
  tmp=$(mktemp)
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$tmp"
  echo >> "$tmp"
  mapfile -t own < <(owner_args "$SERVICE_USER:$SERVICE_USER")
  install -m 0600 "${own[@]}" "$tmp" "$dst"
  rm -f "$tmp"
  say "generated a token in $1"
}

# start_or_restart UNIT...: restart services that are running (so they run
# the new binary and unit), start what is not running. Timers are only ever
# started (SPEC §12): starting an active timer changes nothing, while
# restarting a calendar timer fires its service at once, on every install.
start_or_restart() {
  local u
  for u in "$@"; do
    if [[ $u == *.timer ]]; then
      sysctl_run start "$u"
      say "started $u"
    elif sysctl_run is-active --quiet "$u"; then
      sysctl_run restart "$u"
      say "restarted $u"
    else
      sysctl_run start "$u"
      say "started $u"
    fi
  done
}

# runnable BIN: BIN executes on this machine (false for the other arch's
# binaries in a scratch root).
runnable() { "$1" --version >/dev/null 2>&1; }

# as_service_user CMD...: CMD as the cis490 user (files it creates belong to
# the service); as is under DESTDIR.
# setpriv (no PAM session) first: under cis490-update.service, whose system
# call filter refuses setrlimit, runuser's pam_limits would fail.
as_service_user() {
  if [ -n "$DESTDIR" ] || [ "$(id -u)" != 0 ]; then "$@"
  elif command -v setpriv >/dev/null; then setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups -- "$@"
  else runuser -u "$SERVICE_USER" -- "$@"
  fi
}

# uninstall: stop and disable the caller's units (UNITS, ENABLE), remove
# them, its binaries (BINS) and the release copy. Configs, tokens and data
# stay.
uninstall() {
  local u b
  for u in "${UNITS[@]}"; do
    if printf '%s\n' "${ENABLE[@]}" | grep -qxF "$u"; then
      sysctl_run disable --now "$u" || warn "could not disable $u"
    else
      sysctl_run stop "$u" || warn "could not stop $u"
    fi
  done
  for u in "${UNITS[@]}"; do
    if [ -e "$DESTDIR$UNIT_DIR/$u" ]; then rm -f "$DESTDIR$UNIT_DIR/$u"; say "removed $UNIT_DIR/$u"; fi
  done
  sysctl_run daemon-reload
  for b in "${BINS[@]}"; do
    if [ -e "$DESTDIR$BIN_DIR/$b" ]; then rm -f "$DESTDIR$BIN_DIR/$b"; say "removed $BIN_DIR/$b"; fi
  done
  remove_release
  say "left in place: $CONF_DIR and the data directories"
}
