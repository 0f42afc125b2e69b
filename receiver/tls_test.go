package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/testutil"
	"cis490/internal/wire"
)

// pki issues certificates for tests from one throwaway CA, into dir.
type pki struct {
	t   *testing.T
	dir string
	ca  *testutil.CA
}

func newPKI(t *testing.T) *pki {
	p := &pki{t: t, dir: t.TempDir(), ca: testutil.NewCA(t, testutil.Cert{CN: "test CA"})}
	p.ca.Write(t, filepath.Join(p.dir, "ca.pem"), "")
	return p
}

// issue writes <name>.pem and <name>.key for a leaf certificate.
func (p *pki) issue(name, cn string, dns []string, ips []net.IP, usage x509.ExtKeyUsage) (certPath, keyPath string) {
	certPath, keyPath = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key")
	p.ca.Issue(p.t, testutil.Cert{CN: cn, DNS: dns, IPs: ips, Usage: []x509.ExtKeyUsage{usage}}).Write(p.t, certPath, keyPath)
	return certPath, keyPath
}

func (p *pki) client(cn string, dns ...string) tls.Certificate {
	return p.ca.Issue(p.t, testutil.Cert{CN: cn, DNS: dns}).TLS(p.t)
}

func startInProcess(t *testing.T, cfg config.Receiver) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	bound := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- serve(ctx, cfg, serveOptions{log: slog.New(slog.NewTextHandler(io.Discard, nil)), bound: bound})
	}()
	t.Cleanup(func() { cancel(); <-errc })
	select {
	case a := <-bound:
		return a.String()
	case err := <-errc:
		errc <- err
		t.Fatalf("serve: %v", err)
	}
	return ""
}

func TestMutualTLSBindsTheCertificateToTheHost(t *testing.T) {
	p := newPKI(t)
	srvCert, srvKey := p.issue("server", "receiver", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, x509.ExtKeyUsageServerAuth)
	cfg := config.DefaultReceiver()
	cfg.Server.DataDir, cfg.Server.Listen, cfg.Server.MinFreeBytes = t.TempDir(), "127.0.0.1:0", 0
	cfg.VersionGate.Enabled = false
	cfg.TLS = config.TLS{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: filepath.Join(p.dir, "ca.pem")}
	addr := startInProcess(t, cfg)

	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	other := newPKI(t)
	cases := []struct {
		name     string
		certs    []tls.Certificate
		host     string
		wantCode int // 0: the TLS handshake must fail
		wantErr  string
	}{
		{"certificate of the host", []tls.Certificate{p.client("lab1")}, "lab1", 201, ""},
		{"certificate of another host", []tls.Certificate{p.client("lab1")}, "lab2", 403, "host-mismatch"},
		{"empty CN uses the first DNS SAN", []tls.Certificate{p.client("", "lab3", "other")}, "lab3", 201, ""},
		{"no client certificate", nil, "lab1", 401, "unauthorized"},
		{"certificate from another CA", []tls.Certificate{other.client("lab1")}, "lab1", 0, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: tc.certs}}}
			body := []byte("episode " + tc.name)
			id := "ep" + string(rune('a'+i))
			req, _ := http.NewRequest(http.MethodPut, "https://"+addr+wire.EpisodeURLPath(id), bytes.NewReader(body))
			req.Header.Set(wire.HeaderHost, tc.host)
			req.Header.Set(wire.HeaderSHA256, sha(body))
			resp, err := client.Do(req)
			if tc.wantCode == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("request succeeded with status %d, want a refused handshake", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || !bytes.Contains(b, []byte(tc.wantErr)) {
				t.Errorf("= %d %s, want %d %s", resp.StatusCode, b, tc.wantCode, tc.wantErr)
			}
		})
	}
}

func TestRenewedCertificateFilesAreUsedWithoutRestart(t *testing.T) {
	p := newPKI(t)
	c1, k1 := p.issue("s1", "first", []string{"localhost"}, nil, x509.ExtKeyUsageServerAuth)
	certPath, keyPath := filepath.Join(p.dir, "server.pem"), filepath.Join(p.dir, "server.key")
	copyFile := func(from, to string) {
		b, _ := os.ReadFile(from)
		os.WriteFile(to, b, 0o600)
	}
	copyFile(c1, certPath)
	copyFile(k1, keyPath)
	now := time.Now()
	cf := &certFiles{cfg: config.TLS{CertFile: certPath, KeyFile: keyPath}, log: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	if err := cf.load(now); err != nil {
		t.Fatal(err)
	}
	leafCN := func() string {
		c, _ := cf.current()
		x, _ := x509.ParseCertificate(c.Certificate[0])
		return x.Subject.CommonName
	}
	c2, k2 := p.issue("s2", "renewed", []string{"localhost"}, nil, x509.ExtKeyUsageServerAuth)
	copyFile(c2, certPath)
	copyFile(k2, keyPath)
	os.Chtimes(certPath, now.Add(time.Second), now.Add(time.Second))
	if got := leafCN(); got != "first" {
		t.Errorf("before the re-check interval: %s, want first", got)
	}
	now = now.Add(reloadEvery)
	if got := leafCN(); got != "renewed" {
		t.Errorf("after %v: %s, want renewed", reloadEvery, got)
	}
	if reloadEvery > 10*time.Second {
		t.Errorf("reloadEvery %v exceeds the 10 s of SPEC §13", reloadEvery)
	}
	os.WriteFile(keyPath, []byte("garbage"), 0o600)
	now = now.Add(reloadEvery)
	if got := leafCN(); got != "renewed" {
		t.Errorf("a broken renewal replaced the working certificate: %s", got)
	}
}

// Each TLS file reloads on its own: a broken server certificate does not
// hold back a client-CA rotation (the old CA would stay trusted), and a
// broken CA file keeps the last good CA while a renewed server certificate
// is used.
func TestEachTLSFileReloadsOnItsOwn(t *testing.T) {
	p := newPKI(t)
	c1, k1 := p.issue("s1", "first", []string{"localhost"}, nil, x509.ExtKeyUsageServerAuth)
	caPath := filepath.Join(p.dir, "clients-ca.pem")
	copyFile := func(from, to string) {
		b, _ := os.ReadFile(from)
		os.WriteFile(to, b, 0o600)
	}
	copyFile(filepath.Join(p.dir, "ca.pem"), caPath)
	now := time.Now()
	var logs bytes.Buffer
	cf := &certFiles{cfg: config.TLS{CertFile: c1, KeyFile: k1, ClientCAFile: caPath},
		log: slog.New(slog.NewTextHandler(&logs, nil)), now: func() time.Time { return now }}
	if err := cf.load(now); err != nil {
		t.Fatal(err)
	}
	trusts := func(ca *testutil.CA) bool {
		_, pool := cf.current()
		leaf := ca.Issue(t, testutil.Cert{CN: "lab1", Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}).TLS(t)
		x, _ := x509.ParseCertificate(leaf.Certificate[0])
		_, err := x.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err == nil
	}
	leafCN := func() string {
		c, _ := cf.current()
		x, _ := x509.ParseCertificate(c.Certificate[0])
		return x.Subject.CommonName
	}
	oldCA := p.ca
	newCA := testutil.NewCA(t, testutil.Cert{CN: "rotated CA"})

	// A broken server key and a rotated client CA at the same time.
	os.WriteFile(k1, []byte("garbage"), 0o600)
	newCA.Write(t, caPath, "")
	now = now.Add(reloadEvery)
	if !trusts(newCA) || trusts(oldCA) {
		t.Errorf("after the CA rotation beside a broken server key: trusts new CA %v, old CA %v; want only the new one", trusts(newCA), trusts(oldCA))
	}
	if got := leafCN(); got != "first" {
		t.Errorf("server certificate = %s, want the last good one", got)
	}
	if !bytes.Contains(logs.Bytes(), []byte("server certificate")) {
		t.Errorf("the failed part is not named in the log: %s", logs.String())
	}

	// A broken CA file and a renewed server pair.
	c2, k2 := p.issue("s2", "renewed", []string{"localhost"}, nil, x509.ExtKeyUsageServerAuth)
	copyFile(c2, c1)
	copyFile(k2, k1)
	os.WriteFile(caPath, []byte("not a certificate"), 0o600)
	now = now.Add(reloadEvery)
	if got := leafCN(); got != "renewed" {
		t.Errorf("server certificate beside a broken CA file = %s, want renewed", got)
	}
	if !trusts(newCA) {
		t.Error("a broken CA file dropped the last good CA")
	}
}
