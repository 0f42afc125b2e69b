package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/testutil"
	"cis490/internal/wire"
)

// testPKI is a CA with one server certificate (for 127.0.0.1) and one client
// certificate (CN lab1), all in PEM.
type testPKI struct {
	caPEM, serverCert, serverKey, clientCert, clientKey []byte
	pool                                                *x509.CertPool
}

func mustPKI(tb testing.TB) testPKI {
	tb.Helper()
	ca := testutil.NewCA(tb, testutil.Cert{})
	server := ca.Issue(tb, testutil.Cert{CN: "receiver", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	client := ca.Issue(tb, testutil.Cert{CN: "lab1"})
	return testPKI{caPEM: ca.CertPEM, pool: ca.Pool(), serverCert: server.CertPEM, serverKey: server.KeyPEM,
		clientCert: client.CertPEM, clientKey: client.KeyPEM}
}

func TestCertificatesAppearingAfterStart(t *testing.T) {
	pki := mustPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		writeJSON(w, 200, wire.PingReply{Status: "ok", Host: cn, Version: "t"})
	}))
	serverPair, err := tls.X509KeyPair(pki.serverCert, pki.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverPair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.pool,
	}
	srv.StartTLS()
	defer srv.Close()

	dir := t.TempDir()
	cfg := config.ReceiverClient{
		URL:        srv.URL,
		CABundle:   filepath.Join(dir, "ca.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client.key"),
		TimeoutS:   30,
	}
	c := mustClient(t, cfg)

	t.Run("missing files are transient", func(t *testing.T) {
		_, err := c.Ping(context.Background(), "")
		if !errors.Is(err, ErrCertsNotReady) || Classify(err) != Transient || Code(err) != "credentials-not-ready" {
			t.Fatalf("err = %v, want ErrCertsNotReady (transient)", err)
		}
	})
	t.Run("recovers once the files appear", func(t *testing.T) {
		for name, b := range map[string][]byte{"ca.pem": pki.caPEM, "client.pem": pki.clientCert, "client.key": pki.clientKey} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		reply, err := c.Ping(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if reply.Host != "lab1" {
			t.Errorf("server saw client CN %q, want lab1", reply.Host)
		}
	})
	t.Run("a garbled or mismatched renewal keeps the last pair that loaded", func(t *testing.T) {
		later := time.Now().Add(time.Minute)
		for _, w := range []struct {
			file string
			data []byte
		}{
			{cfg.ClientCert, []byte("half a cert")},
			{cfg.ClientCert, pki.clientCert},
			{cfg.ClientKey, pki.serverKey}, // a key that is not the certificate's
		} {
			if err := os.WriteFile(w.file, w.data, 0o600); err != nil {
				t.Fatal(err)
			}
			later = later.Add(time.Second)
			os.Chtimes(w.file, later, later)
			reply, err := c.Ping(context.Background(), "")
			if err != nil || reply.Host != "lab1" {
				t.Fatalf("ping after writing %s: %v; want the previous pair in use", w.file, err)
			}
		}
	})
}

func TestUnknownServerCAIsTransient(t *testing.T) {
	pki := mustPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"ok"}`)
	}))
	pair, _ := tls.X509KeyPair(pki.serverCert, pki.serverKey)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()
	// No CA bundle: the system roots do not know the test CA.
	_, err := mustClient(t, config.ReceiverClient{URL: srv.URL}).Ping(context.Background(), "")
	if err == nil || Classify(err) != Transient {
		t.Fatalf("err = %v, want a transient TLS error", err)
	}
}
