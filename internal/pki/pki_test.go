package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

func mustCSR(tb testing.TB, key any, cn string) string {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: TypeCSR, Bytes: der}))
}

func TestCheckCSR(t *testing.T) {
	p256, _ := NewKey()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good := mustCSR(t, p256, "lab7")
	block, _ := pem.Decode([]byte(good))
	broken := append([]byte(nil), block.Bytes...)
	broken[len(broken)-3] ^= 0xff // inside the signature
	tests := []struct {
		name, csr string
		wantErr   string // "" accepts
	}{
		{"P-256 accepted", good, ""},
		{"Ed25519 accepted", mustCSR(t, ed, "lab7"), ""},
		{"another CN", mustCSR(t, p256, "lab8"), "CN is"},
		{"RSA-1024", mustCSR(t, rsa1024, "lab7"), "want ECDSA P-256 or Ed25519"},
		{"P-384", mustCSR(t, p384, "lab7"), "want P-256"},
		{"broken signature", string(pem.EncodeToMemory(&pem.Block{Type: TypeCSR, Bytes: broken})), "signature"},
		{"not PEM", "hello", "no PEM block"},
		{"a certificate instead", string(pem.EncodeToMemory(&pem.Block{Type: TypeCertificate, Bytes: block.Bytes})), "PEM block is"},
		{"trailing data", good + "junk", "after the PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckCSR(tt.csr, "lab7")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckCSR: %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, ErrBadCSR) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckCSR: %v, want ErrBadCSR saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestIssueClient(t *testing.T) {
	ca, _, err := NewCA("test CA", t0)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := NewKey()
	is, err := ca.IssueClient("lab7", &key.PublicKey, 90, t0)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(is.DER)
	if got, want := cert.NotBefore, t0.Add(-5*time.Minute); !got.Equal(want) {
		t.Errorf("NotBefore %v, want %v (backdated 5 min)", got, want)
	}
	if got, want := is.RenewAfter, t0.Add(60*24*time.Hour); !got.Equal(want) {
		t.Errorf("renew_after %v, want %v (2/3 of 90 days)", got, want)
	}
	if cert.Subject.CommonName != "lab7" || len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("certificate CN %q usages %v, want lab7, clientAuth only", cert.Subject.CommonName, cert.ExtKeyUsage)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	// A host whose clock is 2 minutes behind can use the fresh certificate.
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0.Add(-2 * time.Minute),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify 2 min before issue: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("a client certificate verified for serverAuth")
	}
}

func TestFingerprint(t *testing.T) {
	fp := Fingerprint([]byte("x"))
	for _, in := range []string{fp, strings.ToUpper(fp), strings.TrimPrefix(fp, "sha256:"), " " + fp + " "} {
		if got, ok := NormalizeFingerprint(in); !ok || got != fp {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v; want %q", in, got, ok, fp)
		}
	}
	for _, in := range []string{"", "sha256:abc", "md5:" + fp[7:], fp[:70] + "zz"} {
		if _, ok := NormalizeFingerprint(in); ok {
			t.Errorf("NormalizeFingerprint(%q) accepted", in)
		}
	}
}

func TestInitNeverOverwrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	res, err := Init(dir, []string{"receiver.lab.example", "10.90.0.1"}, t0, "")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %o, want 0700", st.Mode().Perm())
	}
	for _, f := range []string{CAKeyFile, ServerKeyFile} {
		if st, _ := os.Stat(filepath.Join(dir, f)); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 0600", f, st.Mode().Perm())
		}
	}
	ca, caPEM, err := ReadCA(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(ca.Cert.Raw) != res.CASHA256 || !ca.Cert.IsCA || ca.Cert.MaxPathLen != 0 || !ca.Cert.MaxPathLenZero {
		t.Errorf("CA %v: want the printed fingerprint, a CA with path length 0", ca.Cert.Subject)
	}
	srvPEM, _ := os.ReadFile(filepath.Join(dir, ServerCertFile))
	srv, _ := ParseCert(srvPEM)
	if len(srv.DNSNames) != 1 || len(srv.IPAddresses) != 1 || srv.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("server certificate SANs %v %v usages %v", srv.DNSNames, srv.IPAddresses, srv.ExtKeyUsage)
	}
	if _, err := Init(dir, []string{"x"}, t0, ""); !errors.Is(err, ErrExists) {
		t.Fatalf("second init: %v, want ErrExists", err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	if string(again) != string(caPEM) {
		t.Fatal("second init changed ca.crt")
	}
}

// FuzzCheckCSR: the CSR parser never panics, and whatever it accepts names
// the host and carries an accepted key whose signature verifies.
func FuzzCheckCSR(f *testing.F) {
	k, _ := NewKey()
	f.Add(mustCSR(f, k, "lab7"))
	f.Add("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		csr, err := CheckCSR(s, "lab7")
		if err != nil {
			if !errors.Is(err, ErrBadCSR) {
				t.Fatalf("error %v does not match ErrBadCSR", err)
			}
			return
		}
		if csr.Subject.CommonName != "lab7" || csr.CheckSignature() != nil {
			t.Fatalf("accepted CSR for %q", csr.Subject.CommonName)
		}
	})
}
