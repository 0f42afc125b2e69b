package deploy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/testutil"
)

// TestCaddyFrontEnd runs the receiver behind Caddy configured from
// etc/Caddyfile.example (mTLS, subject header to loopback) and checks that a
// shipper with its own certificate ships through it while a client without a
// certificate, or with another host's, is refused.
func TestCaddyFrontEnd(t *testing.T) {
	caddyBin, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("caddy not installed")
	}
	if testing.Short() {
		t.Skip("builds the binaries and runs Caddy")
	}
	bin := buildBinaries(t)
	pk := newPKI(t)
	srvCert, srvKey := pk.issue(t, "server", "localhost", "localhost")
	lab1Cert, lab1Key := pk.issue(t, "lab1", "lab1")
	lab2Cert, lab2Key := pk.issue(t, "lab2", "lab2")
	dir := t.TempDir()
	tok1File, tok1 := writeToken(t, dir, "lab1")
	tok2File, _ := writeToken(t, dir, "lab2")

	rcfg := writeFile(t, dir, "receiver.toml", fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
data_dir = %q
min_free_bytes = 1024

[auth]
client_subject_header = "X-Client-Subject"

[auth.hosts]
lab1 = %q
lab2 = %q

[version_gate]
enabled = false
`, filepath.Join(dir, "receiver-data"), tok1File, tok2File))
	recv := startNotified(t, "receiver", nil, filepath.Join(bin, "cis490-receiver"), "serve", "--config", rcfg)
	upstream, ok := strings.CutPrefix(recv, "listening on ")
	if !ok {
		t.Fatalf("receiver status %q names no address", recv)
	}

	port := freePort(t)
	caddyfile := writeFile(t, dir, "Caddyfile", caddyfileFromExample(t, map[string]string{
		"receiver.lab.example:443":     "localhost:" + port,
		"receiver.lab.example:8444":    "localhost:" + freePort(t),
		"bind 10.90.0.1":               "bind 127.0.0.1",
		"/etc/caddy/tls/receiver.crt":  srvCert,
		"/etc/caddy/tls/receiver.key":  srvKey,
		"/etc/caddy/tls/fleet-ca.crt":  pk.CAFile,
		"reverse_proxy 127.0.0.1:8490": "reverse_proxy " + upstream,
		// A test must not touch the machine's trust store or admin port.
		"auto_https disable_redirects": "auto_https disable_redirects\n\tskip_install_trust\n\tadmin off",
	}))
	home := t.TempDir()
	startNotified(t, "caddy", []string{"HOME=" + home, "XDG_DATA_HOME=" + home, "XDG_CONFIG_HOME=" + home},
		caddyBin, "run", "--adapter", "caddyfile", "--config", caddyfile)
	url := "https://localhost:" + port

	t.Run("shipper with its certificate ships through Caddy", func(t *testing.T) {
		data := filepath.Join(dir, "lab1-data")
		ep := filepath.Join(data, "episodes", "ep-e2e-1")
		if err := os.MkdirAll(ep, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, ep, "samples.bin", "0123456789")
		writeFile(t, ep, "meta.json", `{"host_id":"lab1","code_version":{"commit":"`+strings.Repeat("ab", 20)+`"}}`)
		cfg := labHostConfig(t, dir, "lab1", url, data, tok1File, pk.CAFile, lab1Cert, lab1Key)
		out, code := run(t, filepath.Join(bin, "cis490-shipper"), "--once", "--json", "--config", cfg)
		var got struct{ Shipped, Quarantined, Transient int }
		if err := json.Unmarshal(out, &got); err != nil || code != 0 || got.Shipped != 1 {
			t.Fatalf("--once: exit %d, %s (%v); want exit 0 and shipped 1", code, out, err)
		}
		index, err := os.ReadFile(filepath.Join(dir, "receiver-data", "index.jsonl"))
		if err != nil || !bytes.Contains(index, []byte(`"id":"ep-e2e-1"`)) || !bytes.Contains(index, []byte(`"host":"lab1"`)) {
			t.Fatalf("index.jsonl = %q, %v; want a row for ep-e2e-1 from lab1", index, err)
		}
	})

	t.Run("doctor report ships through Caddy", func(t *testing.T) {
		// What cis490-doctor-check.service runs once a day.
		cfg := labHostConfig(t, dir, "lab1", url, filepath.Join(dir, "lab1-data"), tok1File, pk.CAFile, lab1Cert, lab1Key)
		if out, code := run(t, filepath.Join(bin, "cis490-shipper"), "ship-health", "--json", "--config", cfg); code != 0 {
			t.Fatalf("ship-health: exit %d, %s; want 0", code, out)
		}
		stored, err := os.ReadFile(filepath.Join(dir, "receiver-data", "host-health", "lab1.json"))
		if err != nil || !bytes.Contains(stored, []byte(`"host":"lab1"`)) {
			t.Fatalf("host-health/lab1.json = %q, %v; want lab1's report", stored, err)
		}
	})

	t.Run("shipper with another host's certificate is refused", func(t *testing.T) {
		cfg := labHostConfig(t, dir, "lab1-wrong-cert", url, filepath.Join(dir, "lab1-data"), tok1File, pk.CAFile, lab2Cert, lab2Key)
		if out, code := run(t, filepath.Join(bin, "cis490-shipper"), "--ping", "--json", "--config", cfg); code != 1 {
			t.Fatalf("--ping with lab2's certificate as lab1: exit %d, %s; want 1", code, out)
		}
	})

	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(pk.CAFile)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("read CA: %v", err)
	}
	tests := []struct {
		name      string
		cert, key string
		spoof     string // a client-sent X-Client-Subject, which Caddy must replace
		wantCode  int    // 0: the TLS handshake must fail
	}{
		{name: "own certificate passes", cert: lab1Cert, key: lab1Key, wantCode: http.StatusOK},
		{name: "no certificate is refused by Caddy"},
		{name: "another host's certificate is a host mismatch", cert: lab2Cert, key: lab2Key, wantCode: http.StatusForbidden},
		{name: "a spoofed subject header is replaced", cert: lab2Cert, key: lab2Key, spoof: "CN=lab1", wantCode: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := &tls.Config{RootCAs: pool}
			if tt.cert != "" {
				c, err := tls.LoadX509KeyPair(tt.cert, tt.key)
				if err != nil {
					t.Fatal(err)
				}
				conf.Certificates = []tls.Certificate{c}
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 30 * time.Second}
			defer client.CloseIdleConnections()
			req, err := http.NewRequest(http.MethodPost, url+"/v1/ping", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok1)
			req.Header.Set("X-Cis490-Host", "lab1")
			if tt.spoof != "" {
				req.Header.Set("X-Client-Subject", tt.spoof)
			}
			resp, err := client.Do(req)
			if tt.wantCode == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("ping without a client certificate: %s; want a TLS error", resp.Status)
				}
				return
			}
			if err != nil {
				t.Fatalf("ping: %v", err)
			}
			defer resp.Body.Close()
			var body struct{ Error string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("ping: %d %q, want %d", resp.StatusCode, body.Error, tt.wantCode)
			}
			if tt.wantCode == http.StatusForbidden && body.Error != "host-mismatch" {
				t.Fatalf("ping: error %q, want host-mismatch", body.Error)
			}
		})
	}
}

// buildBinaries builds the three binaries into a temporary directory (the
// shipper finds the doctor beside itself), or takes them from
// $CIS490_BIN_DIR when set.
func buildBinaries(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("CIS490_BIN_DIR"); d != "" {
		return d
	}
	dir := t.TempDir()
	for _, name := range []string{"receiver", "shipper", "doctor"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "cis490-"+name), "cis490/"+name)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	return dir
}

// caddyfileFromExample is etc/Caddyfile.example with each key of repl
// replaced; a key the example no longer holds fails the test, so the test
// keeps exercising the shipped file.
func caddyfileFromExample(t *testing.T, repl map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "etc", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for from, to := range repl {
		if !strings.Contains(s, from) {
			t.Fatalf("etc/Caddyfile.example no longer contains %q", from)
		}
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}

func labHostConfig(t *testing.T, dir, name, url, data, tokenFile, ca, cert, key string) string {
	t.Helper()
	return writeFile(t, dir, name+".toml", fmt.Sprintf(`host_id = "lab1"

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
`, data, url, tokenFile, ca, cert, key))
}

// startNotified starts name (argv) with a notify socket the test owns and
// returns once it sends READY=1, with the STATUS= text sent alongside; the
// process is stopped (SIGTERM) when the test ends.
func startNotified(t *testing.T, name string, env []string, argv ...string) (status string) {
	t.Helper()
	_, status, _ = testutil.StartReady(t, name, env, argv...)
	return status
}

// run runs a command to completion and returns its stdout and exit code.
func run(t *testing.T, argv ...string) ([]byte, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), 0
	case errors.As(err, &exit):
		t.Logf("%s: stderr:\n%s", filepath.Base(argv[0]), stderr.String())
		return stdout.Bytes(), exit.ExitCode()
	default:
		t.Fatalf("%s: %v", argv[0], err)
		return nil, -1
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func writeToken(t *testing.T, dir, host string) (path, token string) {
	t.Helper()
	token = "token-of-" + host + "-0123456789abcdef"
	return writeFile(t, dir, host+".token", token+"\n"), token
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
