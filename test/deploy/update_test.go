package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildRelease runs build.sh for this machine's arch with version v into a
// fresh directory and returns it (the tarball and release.json).
func buildRelease(t *testing.T, v string) string {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.Command("./build.sh")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION="+v, "ARCHES="+runtime.GOARCH, "FAST_GZIP=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh VERSION=%s: %v\n%s", v, err, out)
	}
	return dist
}

// unpack extracts a release tarball into dir and returns the release's
// top directory.
func unpack(t *testing.T, tarball, dir string) string {
	t.Helper()
	if out, err := exec.Command("tar", "-C", dir, "-xzf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return filepath.Join(dir, strings.TrimSuffix(filepath.Base(tarball), ".tar.gz"))
}

// mustRunCmd runs argv with env added and returns its stdout.
func mustRunCmd(t *testing.T, env []string, argv ...string) []byte {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(argv, " "), err, out, stderr.Bytes())
	}
	return out
}

// TestUpdateBetweenBuiltReleases is the whole release path with the real
// binaries on loopback: two releases built by build.sh with different
// versions, a key from `release keygen`, `release sign` and `release
// publish` on a running receiver, a host installed from the first under
// DESTDIR with the fake systemctl, then `cis490-shipper update`: the host
// ends on the second release with its services restarted and its config
// and token byte-identical.
func TestUpdateBetweenBuiltReleases(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two releases")
	}
	for _, tool := range []string{"tar", "gzip", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dist1, dist2 := buildRelease(t, "e2e-1"), buildRelease(t, "e2e-2")
	tarball := func(dist, v string) string {
		return filepath.Join(dist, fmt.Sprintf("cis490-%s-linux-%s.tar.gz", v, runtime.GOARCH))
	}
	rel1 := unpack(t, tarball(dist1, "e2e-1"), t.TempDir())
	receiverBin := filepath.Join(rel1, "bin", "cis490-receiver")

	keys := t.TempDir()
	mustRunCmd(t, nil, receiverBin, "release", "keygen", "--out", keys)
	for i, d := range []string{dist1, dist2} {
		mustRunCmd(t, nil, receiverBin, "release", "sign", "--key", filepath.Join(keys, "release.key"),
			"--seq", fmt.Sprint(i+1), "--rollout-hours", "0", d)
	}

	dir := t.TempDir()
	tokFile, _ := writeToken(t, dir, "lab1")
	rcfg := writeFile(t, dir, "receiver.toml", fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
data_dir = %q
min_free_bytes = 1024

[auth.hosts]
lab1 = %q

[version_gate]
enabled = false

[releases]
public_key_file = %q
`, filepath.Join(dir, "receiver-data"), tokFile, filepath.Join(keys, "release.pub")))
	status := startNotified(t, "receiver", nil, receiverBin, "serve", "--config", rcfg)
	url := "http://" + strings.TrimPrefix(status, "listening on ")
	for _, d := range []string{dist1, dist2} {
		mustRunCmd(t, nil, receiverBin, "release", "publish", "--config", rcfg, d)
	}

	// The host, installed from the first release the manual way.
	root := t.TempDir()
	sys := t.TempDir()
	fake, _ := filepath.Abs("fake-systemctl.sh")
	env := []string{"DESTDIR=" + root, "SYSTEMCTL=" + fake, "SYSTEMCTL_LOG=" + filepath.Join(sys, "log"),
		"SYSTEMCTL_STATE=" + filepath.Join(sys, "state")}
	mustRunCmd(t, env, filepath.Join(rel1, "scripts", "install-lab-host.sh"))
	cfg := filepath.Join(root, "etc/cis490/lab-host.toml")
	token := filepath.Join(root, "etc/cis490/token")
	b, err := os.ReadFile(filepath.Join(keys, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/cis490/release.pub"), b, 0o644)
	os.WriteFile(token, []byte("token-of-lab1-0123456789abcdef\n"), 0o600)
	os.WriteFile(cfg, []byte(fmt.Sprintf("host_id = \"lab1\"\n[paths]\ndata_dir = %q\n[receiver]\nurl = %q\ntoken_file = %q\n[update]\nhealth_s = 1\n",
		filepath.Join(root, "opt/cis490/data"), url, token)), 0o640)
	cfgBefore, _ := os.ReadFile(cfg)
	tokBefore, _ := os.ReadFile(token)
	os.Truncate(filepath.Join(sys, "log"), 0)

	shipper := filepath.Join(root, "usr/local/bin/cis490-shipper")
	if out := mustRunCmd(t, nil, shipper, "--version"); !bytes.Contains(out, []byte("e2e-1")) {
		t.Fatalf("installed: %s", out)
	}
	out := mustRunCmd(t, env, shipper, "update", "--json", "--config", cfg)
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("update output: %v\n%s", err, out)
	}
	if res["status"] != "updated" || res["installed"] != "e2e-2" {
		t.Fatalf("update: %v", res)
	}
	if out := mustRunCmd(t, nil, shipper, "--version"); !bytes.Contains(out, []byte("e2e-2")) {
		t.Errorf("installed after the update: %s", out)
	}
	log, _ := os.ReadFile(filepath.Join(sys, "log"))
	for _, want := range []string{"daemon-reload", "restart cis490-shipper.service", "start cis490-update.timer"} {
		if !strings.Contains(string(log), want+"\n") {
			t.Errorf("systemctl %q not called:\n%s", want, log)
		}
	}
	if got, _ := os.ReadFile(cfg); !bytes.Equal(got, cfgBefore) {
		t.Error("the config changed")
	}
	if got, _ := os.ReadFile(token); !bytes.Equal(got, tokBefore) {
		t.Error("the token changed")
	}
	for _, v := range []string{"e2e-1", "e2e-2"} {
		if _, err := os.Stat(filepath.Join(root, "opt/cis490/releases", v, "SHA256SUMS")); err != nil {
			t.Errorf("release %s not kept: %v", v, err)
		}
	}
	// Nothing new: the next run is current.
	out = mustRunCmd(t, env, shipper, "update", "--json", "--config", cfg)
	if !bytes.Contains(out, []byte(`"status":"current"`)) {
		t.Errorf("second run: %s", out)
	}
}
