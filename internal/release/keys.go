package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Names of the key pair that `release keygen` writes.
const (
	PrivateKeyFile = "release.key"
	PublicKeyFile  = "release.pub"
)

// ErrBadSignature reports a signature that does not verify with the key.
var ErrBadSignature = errors.New("bad release signature")

// GenerateKey returns a new Ed25519 key pair as PEM: the private key in
// PKCS#8 ("PRIVATE KEY"), the public key in PKIX ("PUBLIC KEY").
func GenerateKey() (privPEM, pubPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// ParsePrivateKey reads an Ed25519 private key from PKCS#8 PEM.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want an Ed25519 key", k)
	}
	return priv, nil
}

// ParsePublicKey reads an Ed25519 public key from PKIX PEM.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM \"PUBLIC KEY\" block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want an Ed25519 key", k)
	}
	return pub, nil
}

// LoadPublicKey reads the public key file at path.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("release public key: %w", err)
	}
	pub, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("release public key %s: %w", path, err)
	}
	return pub, nil
}

// Sign returns the content of release.json.sig for the manifest bytes:
// base64 of the Ed25519 signature and a newline.
func Sign(priv ed25519.PrivateKey, manifest []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(priv, manifest)) + "\n")
}

// Verify checks sig (release.json.sig's content) over the manifest's exact
// bytes, then parses the manifest. Nothing of an unverified manifest is
// trusted, not even for an error message.
func Verify(pub ed25519.PublicKey, manifest, sig []byte) (Manifest, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	if err != nil || len(raw) != ed25519.SignatureSize {
		return Manifest{}, fmt.Errorf("%w: the signature is not base64 of %d bytes", ErrBadSignature, ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, manifest, raw) {
		return Manifest{}, fmt.Errorf("%w: it does not verify with the release public key", ErrBadSignature)
	}
	m, err := Parse(manifest)
	if err != nil {
		return Manifest{}, err
	}
	if !m.Signed() {
		return Manifest{}, fmt.Errorf("%w: signed without seq, expires_at and rollout", ErrBadManifest)
	}
	return m, nil
}
