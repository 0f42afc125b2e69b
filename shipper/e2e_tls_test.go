package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cis490/internal/testutil"
)

// writePKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate with CN host into dir: ca.pem, server.pem, server.key,
// client.pem, client.key.
func writePKI(t *testing.T, dir, host string) {
	t.Helper()
	ca := testutil.NewCA(t, testutil.Cert{CN: "test CA"})
	ca.Write(t, filepath.Join(dir, "ca.pem"), "")
	ca.Issue(t, testutil.Cert{CN: "receiver", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}).
		Write(t, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	ca.Issue(t, testutil.Cert{CN: host}).Write(t, filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"))
}

// TestDaemonCertificatesArriveAfterStart is first-boot bring-up against the
// real receiver serving mTLS: the daemon starts before its certificate
// files exist, keeps the episode, and ships it once the files appear,
// without a restart.
func TestDaemonCertificatesArriveAfterStart(t *testing.T) {
	repo, commits := gitRepo(t, 1)
	pki := t.TempDir()
	writePKI(t, pki, "lab1")
	recv := startRealReceiverWith(t, "tok", repo, "https", fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\nclient_ca_file = %q\n",
		filepath.Join(pki, "server.pem"), filepath.Join(pki, "server.key"), filepath.Join(pki, "ca.pem")))

	dataDir := t.TempDir()
	mustEpisodeMeta(t, filepath.Join(dataDir, "episodes"), "ep-1", `{"code_version":{"commit":"`+commits[0]+`"}}`)
	certs := t.TempDir() // empty until "the Pi issues the leaf"
	cfg := mustConfig(t, dataDir, recv.url, "scan_interval_s = 1", "backoff_min_s = 1", "backoff_max_s = 1")
	appendConfig(t, cfg, "[receiver]", `token = "tok"`,
		fmt.Sprintf("ca_bundle = %q", filepath.Join(certs, "ca.pem")),
		fmt.Sprintf("client_cert = %q", filepath.Join(certs, "client.pem")),
		fmt.Sprintf("client_key = %q", filepath.Join(certs, "client.key")))

	sock := testutil.ListenNotify(t, false)
	t.Setenv("NOTIFY_SOCKET", sock.Name)
	var logs syncLines
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	codec := make(chan int)
	go func() {
		codec <- run(ctx, []string{"--config", cfg}, strings.NewReader(""), io.Discard, lineWriter{&logs})
	}()
	if got := sock.Next(t); got != "READY=1" {
		t.Fatalf("got %q", got)
	}
	if got := sock.Next(t); !strings.Contains(got, "pending 1, shipped 0") || !strings.Contains(got, "credentials not ready") {
		t.Fatalf("first STATUS %q, want the episode kept for missing credentials", got)
	}
	for _, name := range []string{"ca.pem", "client.pem", "client.key"} {
		b, err := os.ReadFile(filepath.Join(pki, name))
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(certs, "."+name)
		os.WriteFile(tmp, b, 0o600)
		os.Rename(tmp, filepath.Join(certs, name))
	}
	for {
		got := sock.Next(t)
		if strings.HasPrefix(got, "STATUS=pending 0, shipped 1") {
			break
		}
	}
	cancel()
	if got := sock.Next(t); got != "STOPPING=1" {
		t.Fatalf("got %q", got)
	}
	if code := <-codec; code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(recv.dataDir, "store", "ep-1.tar.zst")); err != nil {
		t.Errorf("receiver did not store ep-1: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, `error=credentials-not-ready`) || !strings.Contains(out, `msg=shipped id=ep-1 status=201`) {
		t.Errorf("logs:\n%s", out)
	}
}

// lineWriter feeds log output into syncLines.
type lineWriter struct{ l *syncLines }

func (w lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.l.add(line)
	}
	return len(p), nil
}
