package catalogue

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// installer is one role's installer run into a scratch root with the
// recording systemctl of test/deploy.
type installer struct {
	t                     *testing.T
	root, log, state, rel string
}

// newInstaller makes a release directory (the repo's scripts and etc, and
// stand-in binaries that answer --version and record their arguments) and
// an empty scratch root.
func newInstaller(t *testing.T, bins ...string) *installer {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	repo, dir := repoRoot(t), t.TempDir()
	in := &installer{t: t, root: filepath.Join(dir, "root"), log: filepath.Join(dir, "systemctl.log"),
		state: filepath.Join(dir, "state"), rel: filepath.Join(dir, "release")}
	if err := os.MkdirAll(in.rel, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"scripts", "etc"} {
		if out, err := exec.Command("cp", "-R", filepath.Join(repo, sub), filepath.Join(in.rel, sub)).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", sub, err, out)
		}
	}
	for _, b := range bins {
		in.binary(b, "v1")
	}
	return in
}

// binary writes the release's bin/<name>: a script that prints version and
// appends its arguments to <root>/calls.
func (in *installer) binary(name, version string) {
	in.t.Helper()
	if err := os.MkdirAll(filepath.Join(in.rel, "bin"), 0o755); err != nil {
		in.t.Fatal(err)
	}
	body := "#!/bin/sh\n[ \"$1\" = --version ] && { echo " + version + "; exit 0; }\necho \"$0 $*\" >> " + filepath.Join(in.root, "calls") + "\n"
	if err := os.WriteFile(filepath.Join(in.rel, "bin", name), []byte(body), 0o755); err != nil {
		in.t.Fatal(err)
	}
}

// run runs script (a path) and returns the systemctl calls of this run.
func (in *installer) run(script string) []string {
	in.t.Helper()
	os.Remove(in.log)
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "DESTDIR="+in.root, "SYSTEMCTL="+filepath.Join(repoRoot(in.t), "test", "deploy", "fake-systemctl.sh"),
		"SYSTEMCTL_LOG="+in.log, "SYSTEMCTL_STATE="+in.state)
	if out, err := cmd.CombinedOutput(); err != nil {
		in.t.Fatalf("%s: %v\n%s", script, err, out)
	}
	b, _ := os.ReadFile(in.log)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestCatalogueInstallerRestartsWhatRuns: a re-install (an upgrade) must
// restart the units it owns that are running, after daemon-reload, so the
// new binary runs; the replaced system only told the operator to restart,
// and old code kept running.
func TestCatalogueInstallerRestartsWhatRuns(t *testing.T) {
	for _, role := range []struct {
		script string
		bins   []string
		units  []string
	}{
		{"install-lab-host.sh", []string{"cis490-shipper", "cis490-doctor"}, []string{"cis490-shipper.service"}},
		{"install-receiver.sh", []string{"cis490-receiver"}, []string{"cis490-receiver.service"}},
	} {
		t.Run(role.script, func(t *testing.T) {
			in := newInstaller(t, role.bins...)
			script := filepath.Join(in.rel, "scripts", role.script)
			first := in.run(script)
			for _, u := range role.units {
				if !slices.Contains(first, "start "+u) {
					t.Errorf("first install did not start %s: %q", u, first)
				}
			}
			in.binary(role.bins[0], "v2")
			second := in.run(script)
			reload := slices.Index(second, "daemon-reload")
			for _, u := range role.units {
				i := slices.Index(second, "restart "+u)
				if i < 0 || i < reload || reload < 0 {
					t.Errorf("upgrade did not restart %s after daemon-reload: %q", u, second)
				}
				if slices.Contains(second, "start "+u) {
					t.Errorf("upgrade started %s instead of restarting it", u)
				}
			}
			got, _ := os.ReadFile(filepath.Join(in.root, "usr", "local", "bin", role.bins[0]))
			if !strings.Contains(string(got), "echo v2") {
				t.Errorf("the upgraded binary was not installed")
			}
		})
	}
}

// TestCatalogueInstallerStartsTimersNeverRestartsThem: a restarted calendar
// timer fires its service at once, so an install that restarted timers ran
// the doctor check, fleet-health and the update on every install; timers are
// started (a no-op when active), on the first install and on upgrades
// (SPEC §12).
func TestCatalogueInstallerStartsTimersNeverRestartsThem(t *testing.T) {
	for _, role := range []struct {
		script string
		bins   []string
	}{
		{"install-lab-host.sh", []string{"cis490-shipper", "cis490-doctor"}},
		{"install-receiver.sh", []string{"cis490-receiver"}},
	} {
		t.Run(role.script, func(t *testing.T) {
			in := newInstaller(t, role.bins...)
			script := filepath.Join(in.rel, "scripts", role.script)
			timers := 0
			for run, calls := range [][]string{in.run(script), in.run(script)} {
				for _, c := range calls {
					verb, unit, _ := strings.Cut(c, " ")
					if !strings.HasSuffix(unit, ".timer") {
						continue
					}
					switch verb {
					case "restart", "reload-or-restart", "try-restart":
						t.Errorf("run %d: %q (a restarted timer fires at once)", run+1, c)
					case "start":
						timers++
					}
				}
			}
			if timers == 0 {
				t.Error("no timer was started")
			}
		})
	}
}

// TestCatalogueInstallerRunsFromItsInstallCopy: the remediation the
// receiver sends runs /opt/cis490/scripts/install-lab-host.sh, i.e. the
// installer from the copy it made of itself; it must not try to copy the
// release onto itself (the replaced system's cp failed there and, under
// set -e, aborted before any unit was installed or restarted).
func TestCatalogueInstallerRunsFromItsInstallCopy(t *testing.T) {
	in := newInstaller(t, "cis490-shipper", "cis490-doctor")
	in.run(filepath.Join(in.rel, "scripts", "install-lab-host.sh"))
	calls := in.run(filepath.Join(in.root, "opt", "cis490", "scripts", "install-lab-host.sh"))
	for _, want := range []string{"daemon-reload", "restart cis490-shipper.service", "start cis490-doctor-check.timer"} {
		if !slices.Contains(calls, want) {
			t.Errorf("run from the install copy: no %q in %q", want, calls)
		}
	}
	b, _ := os.ReadFile(filepath.Join(in.root, "calls"))
	if n := strings.Count(string(b), "quarantine-unstamped"); n != 2 {
		t.Errorf("quarantine-unstamped ran %d times over two installs, want 2 (the backlog drain):\n%s", n, b)
	}
}
