// Package testutil holds the harnesses the project's tests share: a
// throwaway certificate authority, and starting a binary as a child process
// and waiting for its READY=1. Only _test.go files import it (a house test
// checks), so none of it is linked into a binary.
package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// Cert describes a certificate to make. Zero fields take the defaults noted.
type Cert struct {
	CN  string
	DNS []string
	IPs []net.IP
	// Usage defaults to client authentication.
	Usage []x509.ExtKeyUsage
	// NotBefore defaults to an hour before now, NotAfter to a day after.
	NotBefore, NotAfter time.Time
}

// Issued is a certificate and its private key, parsed and in PEM (the key
// as PKCS #8).
type Issued struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	KeyPEM  []byte
}

// CA is a throwaway certificate authority.
type CA struct {
	Issued
	serial atomic.Int64
}

// NewCA makes a self-signed CA certificate for c (CN defaults to "cis490
// test CA"; without Usage it is valid for any use). A CA also serves as a
// self-signed certificate.
func NewCA(tb testing.TB, c Cert) *CA {
	tb.Helper()
	if c.CN == "" {
		c.CN = "cis490 test CA"
	}
	ca := &CA{}
	ca.serial.Store(1)
	tmpl := template(c, 1)
	if len(c.Usage) == 0 {
		tmpl.ExtKeyUsage = nil // a CA for any use; a usage here would bind every leaf
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage |= x509.KeyUsageCertSign
	ca.Issued = create(tb, tmpl, nil, nil)
	return ca
}

// Issue makes a leaf certificate for c signed by the CA.
func (ca *CA) Issue(tb testing.TB, c Cert) Issued {
	tb.Helper()
	return create(tb, template(c, ca.serial.Add(1)), ca.Cert, ca.Key)
}

// Pool returns a certificate pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Write writes the certificate to certPath and the key to keyPath (mode
// 0600); an empty path is skipped.
func (i Issued) Write(tb testing.TB, certPath, keyPath string) {
	tb.Helper()
	for path, b := range map[string][]byte{certPath: i.CertPEM, keyPath: i.KeyPEM} {
		if path == "" {
			continue
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// TLS returns the pair for a tls.Config.
func (i Issued) TLS(tb testing.TB) tls.Certificate {
	tb.Helper()
	pair, err := tls.X509KeyPair(i.CertPEM, i.KeyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	return pair
}

func template(c Cert, serial int64) *x509.Certificate {
	now := time.Now()
	if c.NotBefore.IsZero() {
		c.NotBefore = now.Add(-time.Hour)
	}
	if c.NotAfter.IsZero() {
		c.NotAfter = now.Add(24 * time.Hour)
	}
	if len(c.Usage) == 0 {
		c.Usage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: c.CN},
		DNSNames:     c.DNS,
		IPAddresses:  c.IPs,
		NotBefore:    c.NotBefore,
		NotAfter:     c.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  c.Usage,
	}
}

// create signs tmpl with parent's key, or self-signs it when parent is nil.
func create(tb testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) Issued {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return Issued{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
}
