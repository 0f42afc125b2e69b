#!/usr/bin/env bash
# install-test.sh RELEASE: run both installers of an unpacked release into
# scratch roots with a recording systemctl and check that
#   - files land with their modes (binaries 0755, configs 0640, tokens 0600,
#     data 0750) and the units are enabled and started;
#   - a second run changes no file (listing with modes and sha256) but
#     restarts the running units;
#   - a run from the install location (/opt/cis490/scripts) works and keeps
#     an edited config and token;
#   - the lab-host installer drains unstamped episodes into quarantine;
#   - the receiver installer restarts nothing when check-config fails;
#   - --uninstall removes units and binaries and keeps configs and data.
set -euo pipefail
REL=$(cd "$1" && pwd)
FAKE=$(cd "$(dirname "$0")" && pwd)/fake-systemctl.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL install: $*" >&2; exit 1; }

# listing ROOT: every path under ROOT with its mode, and each file's sha256.
listing() {
  (cd "$1" && find . -printf '%M %y %p\n' | LC_ALL=C sort &&
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# run ROLE SCRIPT [ARGS]: one installer run into ROLE's scratch root; its
# systemctl calls are left in $WORK/ROLE.log (this run only).
run() {
  local role=$1 script=$2
  shift 2
  local rc=0
  : > "$WORK/$role.log"
  DESTDIR=$WORK/$role SYSTEMCTL=$FAKE SYSTEMCTL_LOG=$WORK/$role.log SYSTEMCTL_STATE=$WORK/$role.state \
    "$script" "$@" > "$WORK/$role.out" 2>&1 || rc=$?
  [ "$rc" = 0 ] || { cat "$WORK/$role.out" >&2; fail "$role: $script $* exited $rc"; }
}

want_mode() { # ROOT PATH MODE
  local got
  got=$(stat -c %a "$1$2") || fail "$2 missing"
  [ "$got" = "$3" ] || fail "$2 has mode $got, want $3"
}

want_log() { # ROLE LINE...
  local role=$1 l
  shift
  for l in "$@"; do grep -qxF "$l" "$WORK/$role.log" || fail "$role: systemctl '$l' not called: $(cat "$WORK/$role.log")"; done
}

# check_role ROLE SCRIPT CONFIG SERVICE TIMER BIN DATA
check_role() {
  local role=$1 script=$2 config=$3 service=$4 timer=$5 bin=$6 data=$7 root=$WORK/$1
  run "$role" "$REL/scripts/$script"
  want_mode "$root" "/usr/local/bin/$bin" 755
  want_mode "$root" "/etc/systemd/system/$service" 644
  want_mode "$root" "/etc/cis490" 750
  want_mode "$root" "$config" 640
  want_mode "$root" "$data" 750
  want_mode "$root" "/opt/cis490/scripts/$script" 755
  cmp -s "$REL/etc/${config##*/}.example" "$root$config" || fail "$role: $config is not the example"
  want_log "$role" daemon-reload "start $service" "start $timer"
  grep -qE "^enable ($service|.* $service)( |$)" "$WORK/$role.log" && grep -qE "^enable .* $timer( |$)" "$WORK/$role.log" ||
    fail "$role: $service and $timer not enabled: $(cat "$WORK/$role.log")"
  listing "$root" > "$WORK/$role.1"

  run "$role" "$REL/scripts/$script"
  listing "$root" > "$WORK/$role.2"
  diff "$WORK/$role.1" "$WORK/$role.2" >&2 || fail "$role: the second run changed files"
  want_log "$role" daemon-reload "restart $service" "start $timer"
  ! grep -qx "start $service" "$WORK/$role.log" || fail "$role: second run started instead of restarting"
  ! grep -q "^restart .*\.timer" "$WORK/$role.log" || fail "$role: second run restarted a timer (it would fire at once)"

  echo "# edited by the operator" >> "$root$config"
  cp "$root$config" "$WORK/$role.config"
  run "$role" "$root/opt/cis490/scripts/$script"
  cmp -s "$WORK/$role.config" "$root$config" || fail "$role: re-run overwrote the edited $config"
  want_log "$role" "restart $service"
  echo "ok install: $role installer idempotent, restarts, runs from /opt/cis490/scripts"
}

check_role lab-host install-lab-host.sh /etc/cis490/lab-host.toml cis490-shipper.service \
  cis490-doctor-check.timer cis490-shipper /opt/cis490/data
root=$WORK/lab-host
want_mode "$root" /etc/cis490/token 600
want_mode "$root" /etc/cis490/tls 750
want_mode "$root" /etc/systemd/system/cis490-cert-renew.timer 644
want_log lab-host "start cis490-cert-renew.timer"
# The update timer is installed, enabled and started (SPEC §15).
want_mode "$root" /etc/systemd/system/cis490-update.service 644
want_log lab-host "start cis490-update.timer"
want_mode "$root" /usr/local/bin/cis490-doctor 755
want_mode "$root" /opt/cis490/data/episodes 750
grep -qE '^[0-9a-f]{64}$' "$root/etc/cis490/token" || fail "lab-host: token is not 64 hex digits"
echo "not a token" > "$root/etc/cis490/token"

# An unstamped episode is drained into quarantine by the next run, when the
# shipper runs on this machine (the release's own arch).
ep=$root/opt/cis490/data/episodes/ep-unstamped
mkdir -p "$ep"
echo '{"episode_id":"ep-unstamped"}' > "$ep/meta.json"
run lab-host "$root/opt/cis490/scripts/install-lab-host.sh"
[ "$(cat "$root/etc/cis490/token")" = "not a token" ] || fail "lab-host: re-run replaced the token"
if "$root/usr/local/bin/cis490-shipper" --version >/dev/null 2>&1; then
  [ -f "$root/opt/cis490/data/quarantine/ep-unstamped/meta.json" ] ||
    fail "lab-host: unstamped episode not quarantined: $(cat "$WORK/lab-host.out")"
  echo "ok install: lab-host installer quarantines unstamped episodes"
else
  echo "SKIP install-drain: the shipper does not run on this machine"
fi

# [update] code_repo gives cis490-update.service write access to the
# checkout through a drop-in; unsetting it takes the drop-in away.
dropin=$root/etc/systemd/system/cis490-update.service.d/code-repo.conf
cp "$root/etc/cis490/lab-host.toml" "$WORK/lab-host.toml.saved"
sed -i 's|^# code_repo = .*|code_repo = "/srv/experiment"|' "$root/etc/cis490/lab-host.toml"
run lab-host "$root/opt/cis490/scripts/install-lab-host.sh"
grep -qx 'ReadWritePaths=/srv/experiment' "$dropin" 2>/dev/null || fail "lab-host: no code-repo drop-in for /srv/experiment"
cp "$WORK/lab-host.toml.saved" "$root/etc/cis490/lab-host.toml"
run lab-host "$root/opt/cis490/scripts/install-lab-host.sh"
[ ! -e "$dropin" ] || fail "lab-host: code-repo drop-in left after code_repo was unset"
echo "ok install: lab-host installer writes and removes the code checkout's drop-in"

check_role receiver install-receiver.sh /etc/cis490/receiver.toml cis490-receiver.service \
  cis490-fleet-health.timer cis490-receiver /var/lib/cis490

# A config the new receiver refuses stops the installer before any restart.
root=$WORK/receiver
if "$root/usr/local/bin/cis490-receiver" --version >/dev/null 2>&1; then
  cp "$root/etc/cis490/receiver.toml" "$WORK/receiver.toml.good"
  printf '[no_such_table]\n' >> "$root/etc/cis490/receiver.toml"
  : > "$WORK/receiver.log"
  if DESTDIR=$root SYSTEMCTL=$FAKE SYSTEMCTL_LOG=$WORK/receiver.log SYSTEMCTL_STATE=$WORK/receiver.state \
    "$root/opt/cis490/scripts/install-receiver.sh" > "$WORK/receiver.out" 2>&1; then
    fail "receiver: installer accepted a broken config"
  fi
  ! grep -q '^restart' "$WORK/receiver.log" || fail "receiver: restarted into a broken config"
  cp "$WORK/receiver.toml.good" "$root/etc/cis490/receiver.toml"
  echo "ok install: receiver installer refuses to restart into a broken config"
else
  echo "SKIP install-check-config: the receiver does not run on this machine"
fi

for role in lab-host receiver; do
  root=$WORK/$role
  script=install-$role.sh
  # What cis490-shipper update keeps: release copies, a code-repo drop-in.
  if [ "$role" = lab-host ]; then
    mkdir -p "$root/opt/cis490/releases/v0/bin" "$root/etc/systemd/system/cis490-update.service.d"
    : > "$root/etc/systemd/system/cis490-update.service.d/code-repo.conf"
  fi
  run "$role" "$root/opt/cis490/scripts/$script" --uninstall
  [ -z "$(ls "$root/etc/systemd/system")" ] || fail "$role: units left after --uninstall: $(ls "$root/etc/systemd/system")"
  [ -z "$(ls "$root/usr/local/bin")" ] || fail "$role: binaries left after --uninstall"
  [ ! -e "$root/opt/cis490/bin" ] || fail "$role: release copy left after --uninstall"
  [ ! -e "$root/opt/cis490/releases" ] || fail "$role: update's release copies left after --uninstall"
  [ -f "$root/etc/cis490/${role}.toml" ] || fail "$role: --uninstall removed the config"
  grep -q '^disable --now cis490-' "$WORK/$role.log" || fail "$role: --uninstall disabled nothing"
done
[ -d "$WORK/lab-host/opt/cis490/data/quarantine" ] || fail "lab-host: --uninstall removed data"
[ -d "$WORK/receiver/var/lib/cis490" ] || fail "receiver: --uninstall removed data"
echo "ok install: --uninstall keeps configs and data"
