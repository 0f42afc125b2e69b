// Package pki is the fleet's certificate authority (SPEC §14): the CA and
// server certificate of `cis490-receiver pki init`, client certificates
// issued on join and renewal, the checks every certificate signing request
// passes, and the lab host's key and CSR. It uses crypto/x509 and
// crypto/ecdsa only; nothing runs openssl.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Lifetimes and margins fixed by SPEC §14.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 825 * 24 * time.Hour
	// Backdate is how far NotBefore lies before the moment of issue, so a
	// host whose clock is a few minutes behind can use a fresh certificate.
	Backdate = 5 * time.Minute
)

// PEM block types.
const (
	TypeCertificate = "CERTIFICATE"
	TypePrivateKey  = "PRIVATE KEY"
	TypeCSR         = "CERTIFICATE REQUEST"
)

// ErrBadCSR reports a certificate signing request that does not parse, whose
// signature does not verify, that names another host or carries a key of a
// kind the fleet does not accept (400 bad-csr).
var ErrBadCSR = errors.New("bad certificate signing request")

// CA is a loaded certificate authority: its certificate and signing key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Fingerprint returns "sha256:<64 hex>" of a certificate's DER bytes, the
// pin `cis490-shipper join --ca-sha256` compares.
func Fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(s[:])
}

// NormalizeFingerprint accepts "sha256:<hex>" or bare hex, in any case and
// with optional colons between bytes, and returns the canonical form.
func NormalizeFingerprint(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 7 && strings.EqualFold(s[:7], "sha256:") {
		s = s[7:]
	}
	s = strings.ReplaceAll(s, ":", "")
	if len(s) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return "sha256:" + strings.ToLower(s), true
}

// NewKey returns a fresh ECDSA P-256 key.
func NewKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	// 128 random bits, positive: unique without a counter to keep.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// NewCA creates a self-signed CA (ECDSA P-256, 10 years, path length 0).
func NewCA(name string, now time.Time) (*CA, []byte, error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(CALifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, Key: key}, der, nil
}

// IssueServer signs a serverAuth certificate for names (DNS names or IP
// addresses, the first one also the CN), valid for ServerLifetime.
func (ca *CA) IssueServer(pub crypto.PublicKey, names []string, now time.Time) ([]byte, error) {
	if len(names) == 0 {
		return nil, errors.New("server certificate: no name")
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-Backdate),
		NotAfter:     now.Add(ServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	return der, nil
}

// Issued is a client certificate signed on join or renewal.
type Issued struct {
	DER        []byte
	Serial     string // lowercase hex
	NotAfter   time.Time
	RenewAfter time.Time
}

// IssueClient signs a clientAuth-only certificate with CN = host for pub:
// NotBefore is now − Backdate, NotAfter now + days (SPEC §14).
func (ca *CA) IssueClient(host string, pub crypto.PublicKey, days int, now time.Time) (Issued, error) {
	sn, err := serial()
	if err != nil {
		return Issued{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-Backdate),
		NotAfter:     now.Add(time.Duration(days) * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return Issued{}, fmt.Errorf("client certificate for %s: %w", host, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Issued{}, err
	}
	return Issued{DER: der, Serial: SerialHex(cert), NotAfter: cert.NotAfter, RenewAfter: RenewAfter(cert)}, nil
}

// SerialHex renders a certificate's serial number as lowercase hex.
func SerialHex(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

// RenewAfter is when a client certificate is due for renewal: ⅔ of the way
// from its issue (NotBefore + Backdate) to NotAfter. Host and receiver both
// derive it from the certificate, so no other record is needed.
func RenewAfter(c *x509.Certificate) time.Time {
	issued := c.NotBefore.Add(Backdate)
	if !c.NotAfter.After(issued) {
		issued = c.NotBefore
	}
	return issued.Add(c.NotAfter.Sub(issued) * 2 / 3).Truncate(time.Second)
}

// CheckCSR parses a PEM certificate signing request and accepts it only if
// its signature verifies, its CN is host and its key is ECDSA P-256 or
// Ed25519. Errors match ErrBadCSR and say what is wrong.
func CheckCSR(pemText, host string) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrBadCSR)
	}
	if block.Type != TypeCSR && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: PEM block is %q, want %q", ErrBadCSR, block.Type, TypeCSR)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrBadCSR, err)
	}
	if csr.Subject.CommonName != host {
		return nil, fmt.Errorf("%w: CN is %q, want %q", ErrBadCSR, csr.Subject.CommonName, host)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA key on %s, want P-256", ErrBadCSR, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("%w: %T key, want ECDSA P-256 or Ed25519", ErrBadCSR, csr.PublicKey)
	}
	return csr, nil
}

// NewCSR returns a PEM CSR with CN = host signed by key.
func NewCSR(key crypto.Signer, host string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: host},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: TypeCSR, Bytes: der}), nil
}

// PublicKeySum is the sha256 of a public key's PKIX DER, how the registry
// remembers which key a join secret was first used with.
func PublicKeySum(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:]), nil
}

// EncodeCert returns a certificate's PEM form.
func EncodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: TypeCertificate, Bytes: der})
}

// EncodeKey returns a private key's PKCS#8 PEM form.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: TypePrivateKey, Bytes: der}), nil
}

// ParseCert returns the first certificate of PEM data.
func ParseCert(pemData []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, pemData = pem.Decode(pemData)
		if block == nil {
			return nil, errors.New("no PEM certificate")
		}
		if block.Type == TypeCertificate {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// ParseKey returns the private key of PEM data (PKCS#8, SEC 1 or PKCS#1).
func ParseKey(pemData []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("%T is not a signing key", k)
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("private key does not parse")
}

// LoadCA parses a CA certificate and its key and checks they belong together.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	if !cert.IsCA {
		return nil, errors.New("CA certificate is not a CA")
	}
	return &CA{Cert: cert, Key: key}, nil
}
