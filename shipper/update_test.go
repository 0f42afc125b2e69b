package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cis490/internal/release"
	"cis490/internal/testutil"
	"cis490/receiver/api"
	"cis490/receiver/datadir"
	"cis490/receiver/releases"
	"cis490/receiver/store"
	"cis490/shipper/update"
)

// stub describes a synthetic release: shell stand-ins for the shipper and
// the installer, enough for update to verify, vet, install and watch it.
type stub struct {
	version     string
	startExit   int // what the "daemon" exits with when systemd starts it
	checkConfig int // check-config's exit code
	escape      bool
	claims      string // what --version says, when not version
}

// tarball builds the release tarball of s, laid out as build.sh does.
func (s stub) tarball(t *testing.T) []byte {
	t.Helper()
	claims := s.version
	if s.claims != "" {
		claims = s.claims
	}
	files := map[string]string{
		"bin/cis490-shipper": fmt.Sprintf(`#!/bin/sh
case "$1" in
  --version) echo "cis490-shipper %s (commit stub)" ;;
  check-config) exit %d ;;
  --ping) exit 0 ;;
  start) exit %d ;;
esac
`, claims, s.checkConfig, s.startExit),
		"scripts/install-lab-host.sh": `#!/bin/sh
set -e
R=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DESTDIR/usr/local/bin" "$DESTDIR/opt/cis490/bin" "$DESTDIR/opt/cis490/scripts"
cp "$R/bin/cis490-shipper" "$DESTDIR/usr/local/bin/cis490-shipper"
for f in bin/cis490-shipper scripts/install-lab-host.sh SHA256SUMS; do cp "$R/$f" "$DESTDIR/opt/cis490/$f"; done
$SYSTEMCTL daemon-reload
$SYSTEMCTL restart cis490-shipper.service
`,
	}
	names := []string{"bin/cis490-shipper", "scripts/install-lab-host.sh"}
	var sums strings.Builder
	for _, n := range names {
		s := sha256.Sum256([]byte(files[n]))
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	files["SHA256SUMS"] = sums.String()
	top := "cis490-" + s.version + "-linux-" + runtime.GOARCH
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, d := range []string{"", "bin/", "scripts/"} {
		tw.WriteHeader(&tar.Header{Name: top + "/" + d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	for _, n := range append(names, "SHA256SUMS") {
		tw.WriteHeader(&tar.Header{Name: top + "/" + n, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(files[n]))})
		tw.Write([]byte(files[n]))
	}
	if s.escape {
		tw.WriteHeader(&tar.Header{Name: top + "/../../../../escaped", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
		tw.Write([]byte("x"))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// updateEnv is a receiver serving releases and a lab host in a scratch
// root, installed from release v1, with the fake systemctl of test/deploy.
type updateEnv struct {
	t        *testing.T
	root     string
	cfg      string
	rs       *releases.Store
	key      string // release.key
	otherKey string
	sysState string
	sysLog   string
	seq      int64
	url      string // the receiver
	store    string // its data directory
	requests atomic.Int64
}

func newUpdateEnv(t *testing.T) *updateEnv {
	t.Helper()
	dataDir := t.TempDir()
	st, _, err := store.Open(dataDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys := t.TempDir()
	e := &updateEnv{t: t, root: t.TempDir(), rs: releases.Open(dataDir), seq: 100}
	for _, name := range []string{"main", "other"} {
		priv, pub, err := release.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(keys, name+".key"), priv, 0o600)
		os.WriteFile(filepath.Join(keys, name+".pub"), pub, 0o644)
	}
	e.key, e.otherKey = filepath.Join(keys, "main.key"), filepath.Join(keys, "other.key")
	pubFile := filepath.Join(keys, "main.pub")
	h := api.New(api.Options{Store: st, Releases: e.rs, ReleaseKeyFile: pubFile,
		MaxBodyBytes: 1 << 20, MaxConcurrentUploads: 2, FreeBytes: func() (int64, error) { return 1 << 40, nil }})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url, e.store = srv.URL, dataDir

	mustMkdir(t, filepath.Join(e.root, "etc/cis490"))
	pub, _ := os.ReadFile(pubFile)
	os.WriteFile(filepath.Join(e.root, "etc/cis490/release.pub"), pub, 0o644)
	e.cfg = filepath.Join(e.root, "etc/cis490/lab-host.toml")
	os.WriteFile(e.cfg, []byte(fmt.Sprintf("host_id = \"lab1\"\n[receiver]\nurl = %q\n[update]\nhealth_s = 1\n", srv.URL)), 0o640)

	sysDir := t.TempDir()
	e.sysState, e.sysLog = filepath.Join(sysDir, "state"), filepath.Join(sysDir, "log")
	probe := filepath.Join(sysDir, "probe.sh")
	os.WriteFile(probe, []byte("#!/bin/sh\n[ \"$1\" = cis490-shipper.service ] || exit 0\nexec \"$DESTDIR/usr/local/bin/cis490-shipper\" start\n"), 0o755)
	fake, err := filepath.Abs("../test/deploy/fake-systemctl.sh")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DESTDIR", e.root)
	t.Setenv("SYSTEMCTL", fake)
	t.Setenv("SYSTEMCTL_STATE", e.sysState)
	t.Setenv("SYSTEMCTL_LOG", e.sysLog)
	t.Setenv("SYSTEMCTL_PROBE", probe)

	// Install v1 the manual way: its own installer from an unpacked copy.
	v1 := t.TempDir() + "/v1"
	if err := update.Unpack(bytes.NewReader(stub{version: "v1"}.tarball(t)), v1); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(v1, "scripts/install-lab-host.sh")).CombinedOutput(); err != nil {
		t.Fatalf("installing v1: %v\n%s", err, out)
	}
	return e
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// publish signs and publishes a release made of tarball under a new seq;
// edit may change the manifest before it is signed, and key picks the key.
func (e *updateEnv) publish(version string, tarball []byte, key string, edit func(*release.Manifest)) {
	t := e.t
	t.Helper()
	e.seq++
	dir := t.TempDir()
	file := "cis490-" + version + "-linux-" + runtime.GOARCH + ".tar.gz"
	os.WriteFile(filepath.Join(dir, file), tarball, 0o644)
	sum := sha256.Sum256(tarball)
	m := release.Manifest{Type: release.Type, Version: version, Commit: strings.Repeat("c", 40), CreatedAt: "2026-12-01T00:00:00.000Z",
		Artifacts: map[string]release.Artifact{release.ArchKey(runtime.GOARCH): {File: file, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(tarball))}},
		Seq:       e.seq, ExpiresAt: "2099-01-01T00:00:00.000Z", Rollout: &release.Rollout{StartAt: "2026-12-01T00:00:00.000Z", Hours: 0}}
	if edit != nil {
		edit(&m)
	}
	b := m.Encode()
	os.WriteFile(filepath.Join(dir, release.ManifestFile), b, 0o644)
	kb, _ := os.ReadFile(e.key)
	priv, _ := release.ParsePrivateKey(kb)
	os.WriteFile(filepath.Join(dir, release.SignatureFile), release.Sign(priv, b), 0o644)
	if _, err := e.rs.Publish(dir, priv.Public().(ed25519.PublicKey), time.Now()); err != nil {
		t.Fatal(err)
	}
	if key != e.key {
		// The receiver serves what another key signed: the host must refuse.
		e.resign(key, nil)
	}
}

// resign rewrites the published manifest (edit may change it) and signs it
// with key, as a receiver that is not to be trusted could.
func (e *updateEnv) resign(key string, edit func(*release.Manifest)) {
	t := e.t
	t.Helper()
	c, err := e.rs.Current()
	if err != nil {
		t.Fatal(err)
	}
	b := c.Manifest
	if edit != nil {
		m := c.Parsed
		edit(&m)
		b = m.Encode()
		os.WriteFile(filepath.Join(c.Dir, release.ManifestFile), b, 0o640)
	}
	kb, _ := os.ReadFile(key)
	priv, err := release.ParsePrivateKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(c.Dir, release.SignatureFile), release.Sign(priv, b), 0o640)
}

// update runs `cis490-shipper update --json` in process.
func (e *updateEnv) update(args ...string) (int, map[string]any) {
	e.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"update", "--json", "--config", e.cfg}, args...), nil, &out, &errb)
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		e.t.Fatalf("update output is not JSON: %v\n%s\n%s", err, out.String(), errb.String())
	}
	return code, m
}

func (e *updateEnv) installed() string {
	out, err := exec.Command(filepath.Join(e.root, "usr/local/bin/cis490-shipper"), "--version").Output()
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Fields(string(out))[1]
}

func (e *updateEnv) state() update.State {
	s, err := update.LoadState(filepath.Join(e.root, update.StateDir, update.StateFile))
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// snapshot lists every file and link under the root but update's own
// state, with a hash of its content.
func (e *updateEnv) snapshot() string {
	var lines []string
	filepath.WalkDir(e.root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(e.root, p)
		if err != nil || strings.HasPrefix(rel, strings.TrimPrefix(update.StateDir, "/")) || d.IsDir() {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t, _ := os.Readlink(p)
			lines = append(lines, rel+" -> "+t)
			return nil
		}
		b, _ := os.ReadFile(p)
		s := sha256.Sum256(b)
		lines = append(lines, rel+" "+hex.EncodeToString(s[:8]))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (e *updateEnv) systemctlLog() string {
	b, _ := os.ReadFile(e.sysLog)
	return string(b)
}

func TestUpdateInstallsTheNewRelease(t *testing.T) {
	e := newUpdateEnv(t)
	t.Run("nothing published: current", func(t *testing.T) {
		if code, m := e.update(); code != 0 || m["status"] != "current" || m["installed"] != "v1" {
			t.Fatalf("exit %d %v", code, m)
		}
	})
	e.publish("v2", stub{version: "v2"}.tarball(t), e.key, nil)
	t.Run("--check says eligible and changes nothing", func(t *testing.T) {
		before := e.snapshot()
		if code, m := e.update("--check"); code != 0 || m["status"] != "eligible" || m["available"] != "v2" {
			t.Fatalf("exit %d %v", code, m)
		}
		if e.snapshot() != before {
			t.Error("--check changed the host")
		}
	})
	code, m := e.update()
	if code != 0 || m["status"] != "updated" || m["installed"] != "v2" {
		t.Fatalf("exit %d %v", code, m)
	}
	if got := e.installed(); got != "v2" {
		t.Errorf("installed %s", got)
	}
	if !strings.Contains(e.systemctlLog(), "restart cis490-shipper.service") {
		t.Error("the shipper was not restarted")
	}
	for _, v := range []string{"v1", "v2"} {
		if _, err := os.Stat(filepath.Join(e.root, update.ReleasesDir, v, "SHA256SUMS")); err != nil {
			t.Errorf("release %s not kept: %v", v, err)
		}
	}
	t.Run("a second run is current after one request", func(t *testing.T) {
		e.requests.Store(0)
		if code, m := e.update(); code != 0 || m["status"] != "current" {
			t.Fatalf("exit %d %v", code, m)
		}
		if n := e.requests.Load(); n != 1 {
			t.Errorf("%d requests, want 1 (a 304 for the manifest held)", n)
		}
	})
}

func TestUpdateRefusalsChangeNothing(t *testing.T) {
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b }
	tests := []struct {
		name    string
		publish func(e *updateEnv)
		want    string
	}{
		{"a flipped byte in the artifact", func(e *updateEnv) {
			good := stub{version: "v2"}.tarball(e.t)
			e.publish("v2", good, e.key, nil)
			c, _ := e.rs.Current()
			os.WriteFile(filepath.Join(c.Dir, "cis490-v2-linux-"+runtime.GOARCH+".tar.gz"), flip(good), 0o640)
		}, "sha256"},
		{"a bad signature", func(e *updateEnv) {
			e.publish("v2", stub{version: "v2"}.tarball(e.t), e.key, nil)
			c, _ := e.rs.Current()
			os.WriteFile(filepath.Join(c.Dir, release.SignatureFile), []byte(strings.Repeat("A", 86)+"==\n"), 0o640)
		}, "signature"},
		{"a manifest signed by another key", func(e *updateEnv) {
			e.publish("v2", stub{version: "v2"}.tarball(e.t), e.otherKey, nil)
		}, "signature"},
		{"an expired manifest", func(e *updateEnv) {
			e.publish("v2", stub{version: "v2"}.tarball(e.t), e.key, nil)
			e.resign(e.key, func(m *release.Manifest) { m.ExpiresAt = "2026-12-02T00:00:00.000Z" })
		}, "expired"},
		{"no artifact for this arch", func(e *updateEnv) {
			e.publish("v2", stub{version: "v2"}.tarball(e.t), e.key, func(m *release.Manifest) {
				a := m.Artifacts[release.ArchKey(runtime.GOARCH)]
				delete(m.Artifacts, release.ArchKey(runtime.GOARCH))
				m.Artifacts["linux-other"] = a
			})
		}, "no artifact"},
		{"a tar entry escaping the release dir", func(e *updateEnv) {
			e.publish("v2", stub{version: "v2", escape: true}.tarball(e.t), e.key, nil)
		}, "unsafe"},
		{"a binary that is not the manifest's version", func(e *updateEnv) {
			e.publish("v2", stub{version: "v2", claims: "v9"}.tarball(e.t), e.key, nil)
		}, "says version"},
		{"a release the current config fails check-config with", func(e *updateEnv) {
			e.publish("v2", stub{version: "v2", checkConfig: 2}.tarball(e.t), e.key, nil)
		}, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newUpdateEnv(t)
			tt.publish(e)
			before, logBefore := e.snapshot(), e.systemctlLog()
			code, m := e.update("--now", "2026-12-03T00:00:00Z")
			if code != 3 || m["status"] != "refused" || !strings.Contains(fmt.Sprint(m["error"]), tt.want) {
				t.Fatalf("exit %d %v, want refused with %q", code, m, tt.want)
			}
			if e.snapshot() != before {
				t.Errorf("the refusal changed the host:\nbefore:\n%s\nafter:\n%s", before, e.snapshot())
			}
			if e.systemctlLog() != logBefore {
				t.Errorf("the refusal ran systemctl: %s", strings.TrimPrefix(e.systemctlLog(), logBefore))
			}
			if e.installed() != "v1" {
				t.Error("not on v1 any more")
			}
		})
	}
	t.Run("a lower seq replayed", func(t *testing.T) {
		e := newUpdateEnv(t)
		e.publish("v2", stub{version: "v2"}.tarball(t), e.key, nil)
		if code, m := e.update(); code != 0 || m["status"] != "updated" {
			t.Fatalf("exit %d %v", code, m)
		}
		// A validly signed manifest with a lower seq (an old one replayed).
		e.resign(e.key, func(m *release.Manifest) { m.Version, m.Seq = "v3", 50 })
		before := e.snapshot()
		code, m := e.update()
		if code != 3 || m["status"] != "refused" || !strings.Contains(fmt.Sprint(m["error"]), "replay") {
			t.Fatalf("exit %d %v", code, m)
		}
		if e.snapshot() != before || e.installed() != "v2" {
			t.Error("the replay changed the host")
		}
	})
}

func TestUpdateRollsBackAndRemembers(t *testing.T) {
	e := newUpdateEnv(t)
	e.publish("v2", stub{version: "v2", startExit: 1}.tarball(t), e.key, nil)
	code, m := e.update()
	if code != 3 || m["status"] != "rolled-back" || m["installed"] != "v1" {
		t.Fatalf("exit %d %v", code, m)
	}
	if got := e.installed(); got != "v1" {
		t.Fatalf("installed %s after the rollback", got)
	}
	if _, err := os.Stat(filepath.Join(e.sysState, "cis490-shipper.service")); err != nil {
		t.Error("the shipper is not running after the rollback")
	}
	if f := e.state().Failed; len(f) != 1 || f[0].Version != "v2" {
		t.Errorf("failed versions %+v", f)
	}
	t.Run("the next timer run does not retry it", func(t *testing.T) {
		logBefore := e.systemctlLog()
		code, m := e.update()
		if code != 3 || m["status"] != "refused" || !strings.Contains(fmt.Sprint(m["error"]), "failed here before") {
			t.Fatalf("exit %d %v", code, m)
		}
		if e.systemctlLog() != logBefore {
			t.Error("the failed version was installed again")
		}
	})
	t.Run("a fixed release under a higher seq installs", func(t *testing.T) {
		e.publish("v2.1", stub{version: "v2.1"}.tarball(t), e.key, nil)
		if code, m := e.update(); code != 0 || m["status"] != "updated" || e.installed() != "v2.1" {
			t.Fatalf("exit %d %v", code, m)
		}
	})
}

func TestUpdateCheckConfigRefusalIsNotInstalled(t *testing.T) {
	e := newUpdateEnv(t)
	e.publish("v2", stub{version: "v2", checkConfig: 2}.tarball(t), e.key, nil)
	logBefore := e.systemctlLog()
	for range 2 {
		if code, m := e.update(); code != 3 || m["status"] != "refused" {
			t.Fatalf("exit %d %v", code, m)
		}
	}
	if e.systemctlLog() != logBefore {
		t.Error("an installer ran")
	}
	if e.installed() != "v1" {
		t.Error("v2 was installed")
	}
	// The config changes: the version may be tried again (and is refused
	// again by the same release).
	os.WriteFile(e.cfg, append(mustRead(t, e.cfg), []byte("# edited\n")...), 0o640)
	if _, m := e.update(); !strings.Contains(fmt.Sprint(m["error"]), "does not accept") {
		t.Errorf("after a config change: %v", m)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUpdateKilledAtEachStep kills `update` (SIGKILL, from inside the real
// process at the instant each step is recorded), then runs it again: the
// host ends on the new release, or rolled back to the old one with the new
// one remembered, never in between.
func TestUpdateKilledAtEachStep(t *testing.T) {
	for _, tc := range []struct {
		step string
		bad  bool // the new release's shipper exits at start
	}{
		{update.StepStaging, false},
		{update.StepInstalling, false},
		{update.StepHealth, false},
		{update.StepInstalling, true},
		{update.StepHealth, true},
		{update.StepRollingBack, true},
	} {
		name := "killed at " + tc.step
		if tc.bad {
			name += " of a bad release"
		}
		t.Run(name, func(t *testing.T) {
			e := newUpdateEnv(t)
			e.publish("v2", stub{version: "v2", startExit: map[bool]int{true: 1}[tc.bad]}.tarball(t), e.key, nil)
			cmd := exec.Command(os.Args[0], "update", "--config", e.cfg)
			cmd.Env = append(os.Environ(), "CIS490_SHIPPER_CHILD=1", "CIS490_UPDATE_KILL_AT="+tc.step, "GORACE=atexit_sleep_ms=0")
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(interface{ Signaled() bool }).Signaled() == false {
				t.Fatalf("update was not killed: %v\n%s", err, out)
			}
			if p := e.state().Pending; p == nil || p.Step != tc.step {
				t.Fatalf("pending after the kill: %+v", p)
			}
			code, m := e.update()
			want, wantCode, wantVersion := "updated", 0, "v2"
			if tc.bad {
				want, wantCode, wantVersion = "rolled-back", 3, "v1"
			}
			if code != wantCode || m["status"] != want || e.installed() != wantVersion {
				t.Fatalf("second run: exit %d %v, installed %s", code, m, e.installed())
			}
			if e.state().Pending != nil {
				t.Error("still pending")
			}
			if _, err := os.Stat(filepath.Join(e.sysState, "cis490-shipper.service")); err != nil {
				t.Error("the shipper is not running")
			}
		})
	}
}

// TestDaemonShipsThroughAFailingUpdate runs the shipper daemon beside an
// update that downloads a bad release, installs it, sees it fail and rolls
// back: episodes written while the update installs and while it rolls back
// are stored by the receiver all the same.
func TestDaemonShipsThroughAFailingUpdate(t *testing.T) {
	e := newUpdateEnv(t)
	e.publish("v2", stub{version: "v2", startExit: 1}.tarball(t), e.key, nil)
	dataDir := t.TempDir()
	episodes := filepath.Join(dataDir, "episodes")
	cfg := mustConfig(t, dataDir, e.url, "settle_s = 0", "scan_interval_s = 1")
	sock := testutil.ListenNotify(t, false)
	t.Setenv("NOTIFY_SOCKET", sock.Name)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--config", cfg}, strings.NewReader(""), io.Discard, io.Discard) }()
	if got := sock.Next(t); got != "READY=1" {
		t.Fatalf("daemon: %q", got)
	}
	t.Setenv("NOTIFY_SOCKET", "") // the update's own children must not talk to the test's socket
	mustEpisode(t, episodes, "ep-before")
	updateHook = func(step string) {
		switch step {
		case update.StepInstalling, update.StepRollingBack:
			mustEpisode(t, episodes, "ep-"+step)
		}
	}
	t.Cleanup(func() { updateHook = nil })
	if code, m := e.update(); code != 3 || m["status"] != "rolled-back" {
		t.Fatalf("update: exit %d %v", code, m)
	}
	updateHook = nil
	for {
		if got := sock.Next(t); strings.HasPrefix(got, "STATUS=pending 0, shipped 3") {
			break
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	for _, id := range []string{"ep-before", "ep-installing", "ep-rolling-back"} {
		if _, err := os.Stat(datadir.New(e.store).Stored(id)); err != nil {
			t.Errorf("%s not stored: %v", id, err)
		}
	}
}

// TestUpdateCheckFollowsTheRollout asks `update --check --now T` at several
// instants of a 24 h rollout: the host waits until start_at + 24 h × u (u
// from its id and the version), and in the canary ring it is eligible at
// start_at.
func TestUpdateCheckFollowsTheRollout(t *testing.T) {
	e := newUpdateEnv(t)
	e.publish("v2", stub{version: "v2"}.tarball(t), e.key, func(m *release.Manifest) {
		m.Rollout = &release.Rollout{StartAt: "2026-12-10T00:00:00.000Z", Hours: 24}
	})
	start := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	at := start.Add(time.Duration(release.Bucket("lab1", "v2") * float64(24*time.Hour))).UTC()
	for _, tc := range []struct {
		now  time.Time
		want string
	}{
		{start.Add(-time.Hour), "waiting"},
		{at.Add(-time.Second), "waiting"},
		{at.Add(time.Second), "eligible"},
		{start.Add(25 * time.Hour), "eligible"},
	} {
		code, m := e.update("--check", "--now", tc.now.Format(time.RFC3339))
		if code != 0 || m["status"] != tc.want {
			t.Errorf("at %s: exit %d %v, want %s", tc.now.Format(time.RFC3339), code, m, tc.want)
		}
		if tc.want == "waiting" && m["eligible_at"] != at.Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("eligible_at %v, want %s", m["eligible_at"], at)
		}
	}
	os.WriteFile(e.cfg, append(mustRead(t, e.cfg), []byte("ring = \"canary\"\n")...), 0o640)
	if code, m := e.update("--check", "--now", "2026-12-10T00:00:00Z"); code != 0 || m["status"] != "eligible" {
		t.Errorf("canary at start_at: exit %d %v", code, m)
	}
}
