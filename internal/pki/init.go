package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"cis490/internal/atomicio"
)

// File names inside [pki] dir (SPEC §14).
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// ErrExists reports that `pki init` found a file it would have written: it
// never overwrites a CA.
var ErrExists = errors.New("already exists")

// InitResult is what `pki init` created.
type InitResult struct {
	Dir         string    `json:"dir"`
	CASHA256    string    `json:"ca_sha256"`
	ServerNames []string  `json:"server_names"`
	NotAfter    time.Time `json:"-"`
}

// Init creates the fleet CA and the receiver's server certificate in dir
// (mode 0700), refusing with ErrExists if any of the four files is there.
// Files and dir are chowned like ownerRef (the receiver's data_dir) when
// running as root and ownerRef exists.
func Init(dir string, names []string, now time.Time, ownerRef string) (InitResult, error) {
	if len(names) == 0 {
		return InitResult{}, errors.New("pki init: at least one --name")
	}
	files := []string{CACertFile, CAKeyFile, ServerCertFile, ServerKeyFile}
	for _, f := range files {
		p := filepath.Join(dir, f)
		if _, err := os.Lstat(p); err == nil {
			return InitResult{}, fmt.Errorf("pki init: %s %w; remove the old CA first if you mean to replace it (every host must join again)", p, ErrExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return InitResult{}, fmt.Errorf("pki init: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return InitResult{}, fmt.Errorf("pki init: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return InitResult{}, fmt.Errorf("pki init: %w", err)
	}
	if err := atomicio.ChownLike(dir, ownerRef); err != nil {
		return InitResult{}, fmt.Errorf("pki init: %w", err)
	}
	ca, caDER, err := NewCA("cis490 fleet CA", now)
	if err != nil {
		return InitResult{}, err
	}
	caKey, err := EncodeKey(ca.Key)
	if err != nil {
		return InitResult{}, err
	}
	srvKey, err := NewKey()
	if err != nil {
		return InitResult{}, err
	}
	srvDER, err := ca.IssueServer(&srvKey.PublicKey, names, now)
	if err != nil {
		return InitResult{}, err
	}
	srvKeyPEM, err := EncodeKey(srvKey)
	if err != nil {
		return InitResult{}, err
	}
	srv, _ := x509.ParseCertificate(srvDER)
	// Keys first: a crash leaves no certificate without its key, and a
	// second run refuses (the operator removes the partial set by hand).
	for _, w := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{CAKeyFile, caKey, 0o600},
		{ServerKeyFile, srvKeyPEM, 0o600},
		{CACertFile, EncodeCert(caDER), 0o644},
		{ServerCertFile, EncodeCert(srvDER), 0o644},
	} {
		p := filepath.Join(dir, w.name)
		if err := atomicio.WriteNew(p, w.data, w.perm, ownerRef); err != nil {
			return InitResult{}, fmt.Errorf("pki init: %w", err)
		}
	}
	return InitResult{Dir: dir, CASHA256: Fingerprint(caDER), ServerNames: names, NotAfter: srv.NotAfter}, nil
}

// ReadCA loads the CA from its certificate and key files. A missing
// certificate file yields an error matching fs.ErrNotExist: the PKI is off.
func ReadCA(certFile, keyFile string) (*CA, []byte, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet CA key: %w", err)
	}
	ca, err := LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet CA %s: %w", certFile, err)
	}
	return ca, EncodeCert(ca.Cert.Raw), nil
}
