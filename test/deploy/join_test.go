package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/testutil"
)

// fleet is a receiver run from the real binary with a fleet CA made by
// `pki init`, and the paths a lab host of it uses.
type fleet struct {
	t        *testing.T
	bin      string
	dir      string
	rcfg     string
	dataDir  string
	url      string
	receiver *daemon
}

// newFleet runs `pki init` and starts the receiver. With tls the receiver
// serves HTTPS itself and requires client certificates (in-process mTLS);
// without, it listens on plain HTTP. extra goes into receiver.toml.
func newFleet(t *testing.T, bin string, tls bool, extra string) *fleet {
	t.Helper()
	f := &fleet{t: t, bin: bin, dir: t.TempDir()}
	f.dataDir = filepath.Join(f.dir, "receiver-data")
	pkiDir := filepath.Join(f.dir, "pki")
	port := freePort(t)
	scheme, tlsSection := "http", ""
	if tls {
		scheme = "https"
		tlsSection = fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\nclient_ca_file = %q\n",
			filepath.Join(pkiDir, "server.crt"), filepath.Join(pkiDir, "server.key"), filepath.Join(pkiDir, "ca.crt"))
	}
	f.url = fmt.Sprintf("%s://localhost:%s", scheme, port)
	f.rcfg = writeFile(t, f.dir, "receiver.toml", fmt.Sprintf(`[server]
listen = "127.0.0.1:%s"
data_dir = %q
min_free_bytes = 1024

[version_gate]
enabled = false

[pki]
dir = %q
public_url = %q
%s%s`, port, f.dataDir, pkiDir, f.url, tlsSection, extra))
	out, code := run(t, f.recv(), "pki", "init", "--config", f.rcfg, "--name", "localhost", "--name", "127.0.0.1", "--json")
	if code != 0 {
		t.Fatalf("pki init: exit %d\n%s", code, out)
	}
	f.receiver = startDaemon(t, "receiver", f.recv(), "serve", "--config", f.rcfg)
	return f
}

func (f *fleet) recv() string    { return filepath.Join(f.bin, "cis490-receiver") }
func (f *fleet) shipper() string { return filepath.Join(f.bin, "cis490-shipper") }

// hostAdd runs `host add` and returns the printed join command's arguments
// after `cis490-shipper`.
func (f *fleet) hostAdd(host string) []string {
	f.t.Helper()
	out, code := run(f.t, f.recv(), "host", "add", host, "--config", f.rcfg, "--json")
	var res struct{ Command, JoinToken string }
	if err := json.Unmarshal(out, &res); err != nil || code != 0 {
		f.t.Fatalf("host add: exit %d, %s (%v)", code, out, err)
	}
	args, ok := strings.CutPrefix(res.Command, "sudo cis490-shipper ")
	if !ok {
		f.t.Fatalf("host add printed %q, want a `sudo cis490-shipper join …` line", res.Command)
	}
	return strings.Fields(args)
}

// labHost writes lab-host.toml for host with the standard credential files
// in its own tls/ directory (none exist yet) and returns its path and dirs.
func (f *fleet) labHost(host, url string) (cfg, data, tlsDir string) {
	f.t.Helper()
	base := filepath.Join(f.dir, host)
	data, tlsDir = filepath.Join(base, "data"), filepath.Join(base, "tls")
	for _, d := range []string{filepath.Join(data, "episodes"), tlsDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			f.t.Fatal(err)
		}
	}
	cfg = writeFile(f.t, base, "lab-host.toml", fmt.Sprintf(`host_id = %q

[paths]
data_dir = %q

[receiver]
url = %q
token_file = %q
ca_bundle = %q
client_cert = %q
client_key = %q
timeout_s = 10

[shipper]
settle_s = 0
scan_interval_s = 1
backoff_min_s = 1
backoff_max_s = 2

[update]
public_key_file = %q
`, host, data, url, filepath.Join(base, "token"), filepath.Join(tlsDir, "ca.crt"),
		filepath.Join(tlsDir, "client.crt"), filepath.Join(tlsDir, "client.key"), filepath.Join(base, "release.pub")))
	return cfg, data, tlsDir
}

// episode writes a finished episode into data/episodes.
func episode(t *testing.T, data, id string) {
	t.Helper()
	ep := filepath.Join(data, "episodes", id)
	if err := os.MkdirAll(ep, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, ep, "samples.bin", "samples of "+id)
	writeFile(t, ep, "meta.json", `{"code_version":{"commit":"`+strings.Repeat("ab", 20)+`"}}`)
}

// TestJoinRenewRevokeEndToEnd walks a host through its life with the real
// binaries on loopback and in-process mTLS: pki init, host add, join with
// the printed line, ping and ship, renew twice while the daemon runs (its
// next upload can only pass with the newest pair), revoke.
func TestJoinRenewRevokeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	bin := buildBinaries(t)
	f := newFleet(t, bin, true, "")
	joinArgs := f.hostAdd("lab7")
	cfg, data, tlsDir := f.labHost("lab7", f.url)

	out, code := run(t, append(append([]string{f.shipper()}, joinArgs...), "--config", cfg, "--json")...)
	var joined struct {
		Host, URL string
		NotAfter  *string `json:"not_after"`
		Files     []string
	}
	if err := json.Unmarshal(out, &joined); err != nil || code != 0 || joined.Host != "lab7" || joined.NotAfter == nil {
		t.Fatalf("join: exit %d, %s (%v)", code, out, err)
	}
	for name, mode := range map[string]os.FileMode{"client.key": 0o600, "client.crt": 0o644, "ca.crt": 0o644} {
		st, err := os.Stat(filepath.Join(tlsDir, name))
		if err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v, mode %v; want %o", name, err, st.Mode().Perm(), mode)
		}
	}
	if out, code := run(t, f.shipper(), "--ping", "--json", "--config", cfg); code != 0 {
		t.Fatalf("--ping after join: exit %d %s", code, out)
	}

	d := startDaemon(t, "shipper", f.shipper(), "--config", cfg)
	episode(t, data, "ep-1")
	d.waitStatus("shipped 1")

	for i := 0; i < 2; i++ {
		out, code := run(t, f.shipper(), "cert-renew", "--force", "--json", "--config", cfg)
		var r struct{ Status string }
		if json.Unmarshal(out, &r) != nil || code != 0 || r.Status != "renewed" {
			t.Fatalf("cert-renew --force: exit %d, %s", code, out)
		}
	}
	out, code = run(t, f.shipper(), "cert-renew", "--json", "--config", cfg)
	if !strings.Contains(string(out), `"status":"not-due"`) || code != 0 {
		t.Fatalf("cert-renew just after a renewal: exit %d, %s; want not-due, 0", code, out)
	}
	// After two renewals the receiver accepts only the two newest
	// certificates: the daemon ships only if it moved to the new pair.
	episode(t, data, "ep-2")
	d.waitStatus("shipped 2")

	out, code = run(t, f.recv(), "host", "revoke", "lab7", "--config", f.rcfg, "--json")
	if code != 0 {
		t.Fatalf("host revoke: exit %d %s", code, out)
	}
	episode(t, data, "ep-3")
	d.waitStatus("host-revoked")
	if _, err := os.Stat(filepath.Join(data, "episodes", "ep-3", "meta.json")); err != nil {
		t.Fatalf("a refused episode left episodes/: %v", err)
	}
	out, code = run(t, f.shipper(), "cert-renew", "--force", "--json", "--config", cfg)
	if code != 3 || !strings.Contains(string(out), "host-revoked") {
		t.Fatalf("cert-renew of a revoked host: exit %d, %s; want 3 host-revoked", code, out)
	}
	out, code = run(t, f.shipper(), "--ping", "--json", "--config", cfg)
	if code != 1 || !strings.Contains(string(out), "host-revoked") {
		t.Fatalf("--ping of a revoked host: exit %d, %s; want 1 host-revoked", code, out)
	}
	index, _ := os.ReadFile(filepath.Join(f.dataDir, "index.jsonl"))
	if !bytes.Contains(index, []byte(`"id":"ep-2"`)) || bytes.Contains(index, []byte(`"id":"ep-3"`)) {
		t.Fatalf("index.jsonl:\n%s\nwant ep-2 stored, ep-3 not", index)
	}
}

// daemon is a long-running process that talks sd_notify.
type daemon struct {
	t *testing.T
	p *testutil.Proc
}

// startDaemon starts argv with a notify socket and returns once it sent
// READY=1; it is stopped when the test ends.
func startDaemon(t *testing.T, name string, argv ...string) *daemon {
	t.Helper()
	p, _, _ := testutil.StartReady(t, name, nil, argv...)
	return &daemon{t: t, p: p}
}

// waitStatus waits for a notify datagram (a STATUS= line) containing want.
func (d *daemon) waitStatus(want string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.p.WaitNotify(ctx, want); err != nil {
		d.t.Fatalf("%v; last status %q", err, d.p.Status())
	}
}

// TestInstallLabHostJoin runs `install-lab-host.sh --join` with the line
// `host add` prints into a scratch root (DESTDIR, a recording systemctl)
// against a running receiver with in-process mTLS: it writes a config with
// the host id, the receiver URL and the standard credential paths, joins,
// and enables the renewal timer; the installed host then pings over mTLS.
func TestInstallLabHostJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	bin := buildBinaries(t)
	f := newFleet(t, bin, true, "")
	args := f.hostAdd("lab7")
	var url, secret, pin string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--url":
			url = args[i+1]
		case "--token":
			secret = args[i+1]
		case "--ca-sha256":
			pin = args[i+1]
		}
	}
	// A release as the installer expects it: bin/, etc/, scripts/.
	rel := t.TempDir()
	for _, d := range []string{"bin", "etc", "scripts"} {
		if err := os.MkdirAll(filepath.Join(rel, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyAll := func(fromDir, toDir string, mode os.FileMode) {
		ents, _ := os.ReadDir(fromDir)
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(fromDir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(toDir, e.Name()), b, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyAll(bin, filepath.Join(rel, "bin"), 0o755)
	copyAll(filepath.Join("..", "..", "etc"), filepath.Join(rel, "etc"), 0o644)
	copyAll(filepath.Join("..", "..", "scripts"), filepath.Join(rel, "scripts"), 0o755)
	root := t.TempDir()
	state := t.TempDir()
	fake, _ := filepath.Abs("fake-systemctl.sh")
	cmd := exec.Command(filepath.Join(rel, "scripts", "install-lab-host.sh"), "--join", url, secret, "--ca-sha256", pin, "--host-id", "lab7")
	cmd.Env = append(os.Environ(), "DESTDIR="+root, "SYSTEMCTL="+fake, "SYSTEMCTL_LOG="+filepath.Join(state, "log"), "SYSTEMCTL_STATE="+state)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install-lab-host.sh --join: %v\n%s", err, out)
	}
	conf, err := os.ReadFile(filepath.Join(root, "etc/cis490/lab-host.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`host_id = "lab7"`, `url = "` + url + `"`, `token_file = "/etc/cis490/token"`,
		`client_cert = "/etc/cis490/tls/client.crt"`, `client_key = "/etc/cis490/tls/client.key"`, `ca_bundle = "/etc/cis490/tls/ca.crt"`} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("lab-host.toml lacks %q", want)
		}
	}
	for _, p := range []string{"etc/cis490/tls/client.key", "etc/cis490/tls/client.crt", "etc/cis490/tls/ca.crt", "etc/cis490/token"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	log, _ := os.ReadFile(filepath.Join(state, "log"))
	if !strings.Contains(string(log), "cis490-cert-renew.timer") || !strings.Contains(string(log), "start cis490-shipper.service") {
		t.Errorf("systemctl calls:\n%s\nwant the renewal timer enabled and the shipper started", log)
	}
	scratchConf := strings.ReplaceAll(string(conf), `"/etc/cis490/`, `"`+root+`/etc/cis490/`)
	scratchConf = strings.ReplaceAll(scratchConf, `"/opt/cis490/`, `"`+root+`/opt/cis490/`)
	cfg := writeFile(t, t.TempDir(), "lab-host.toml", scratchConf)
	if out, code := run(t, f.shipper(), "--ping", "--json", "--config", cfg); code != 0 {
		t.Fatalf("--ping of the installed host: exit %d %s", code, out)
	}
}

// TestCaddyJoinSite: behind Caddy configured from etc/Caddyfile.example, a
// host without a certificate joins through the join-only site, ships
// through the mTLS site with what it got, and the join-only site answers
// 404 to every other route.
func TestCaddyJoinSite(t *testing.T) {
	caddyBin, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("caddy not installed (.ci/run installs it)")
	}
	if testing.Short() {
		t.Skip("builds the binaries and runs Caddy")
	}
	bin := buildBinaries(t)
	shipPort, joinPort := freePort(t), freePort(t)
	f := newFleet(t, bin, false, "[auth]\nclient_subject_header = \"X-Client-Subject\"\n")
	// The receiver listens on loopback; Caddy holds the names.
	upstream := strings.TrimPrefix(f.url, "http://localhost")
	pkiDir := filepath.Join(f.dir, "pki")
	caddyfile := writeFile(t, f.dir, "Caddyfile", caddyfileFromExample(t, map[string]string{
		"receiver.lab.example:443":     "localhost:" + shipPort,
		"receiver.lab.example:8444":    "localhost:" + joinPort,
		"bind 10.90.0.1":               "bind 127.0.0.1",
		"/etc/caddy/tls/receiver.crt":  filepath.Join(pkiDir, "server.crt"),
		"/etc/caddy/tls/receiver.key":  filepath.Join(pkiDir, "server.key"),
		"/etc/caddy/tls/fleet-ca.crt":  filepath.Join(pkiDir, "ca.crt"),
		"reverse_proxy 127.0.0.1:8490": "reverse_proxy 127.0.0.1" + upstream,
		"auto_https disable_redirects": "auto_https disable_redirects\n\tskip_install_trust\n\tadmin off",
	}))
	home := t.TempDir()
	startNotified(t, "caddy", []string{"HOME=" + home, "XDG_DATA_HOME=" + home, "XDG_CONFIG_HOME=" + home},
		caddyBin, "run", "--adapter", "caddyfile", "--config", caddyfile)
	joinURL, shipURL := "https://localhost:"+joinPort, "https://localhost:"+shipPort

	args := f.hostAdd("lab7")
	for i, a := range args {
		if a == "--url" {
			if !strings.HasSuffix(args[i+1], ":8444") {
				t.Errorf("host add behind Caddy printed --url %s, want the join-only site on :8444", args[i+1])
			}
			args[i+1] = joinURL
		}
	}
	cfg, data, _ := f.labHost("lab7", shipURL)
	if out, code := run(t, append(append([]string{f.shipper()}, args...), "--config", cfg, "--json")...); code != 0 {
		t.Fatalf("join through Caddy's join-only site: exit %d %s", code, out)
	}
	episode(t, data, "ep-caddy")
	out, code := run(t, f.shipper(), "--once", "--json", "--config", cfg)
	if code != 0 || !strings.Contains(string(out), `"shipped":1`) {
		t.Fatalf("--once through Caddy's mTLS site: exit %d %s", code, out)
	}
	if out, code := run(t, f.shipper(), "cert-renew", "--force", "--json", "--config", cfg); code != 0 {
		t.Fatalf("cert-renew through Caddy's mTLS site: exit %d %s", code, out)
	}

	// The join-only site passes on nothing but /v1/ca and /v1/join.
	pemCA, _ := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/ping"}, {"PUT", "/v1/episodes/ep-x.tar.zst"}, {"GET", "/v1/host-health"},
		{"POST", "/v1/certs/renew"}, {"GET", "/metrics"}, {"GET", "/healthz"},
	} {
		req, _ := http.NewRequest(c.method, joinURL+c.path, strings.NewReader("{}"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s on the join-only site: %v", c.method, c.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s on the join-only site: %d, want 404", c.method, c.path, resp.StatusCode)
		}
	}
	resp, err := client.Get(joinURL + "/v1/ca")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/ca on the join-only site: %v %v", resp, err)
	}
	resp.Body.Close()
}
