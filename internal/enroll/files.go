// Package enroll is the lab host's side of joining the fleet and keeping its
// certificate (SPEC §14): `cis490-shipper join` (CA pinning, a key made and
// kept before the request, the credential files written atomically) and
// `cis490-shipper cert-renew` (a fresh key once renew_after has passed,
// swapped in so a crash at any step is finished by the next run). It owns
// the renewal state file the doctor reads.
package enroll

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/config"
	"cis490/internal/pki"
	"cis490/internal/wire"
)

// ErrConfig reports a lab-host config that cannot be used for a join or a
// renewal: a missing [receiver] path, or https without a way to trust the
// receiver. Commands exit 2 on it.
var ErrConfig = errors.New("config")

// Files are the credential files of [receiver], and the file whose owner
// the written files get (the data_dir) when running as root.
type Files struct {
	Key, Cert, CA, Token string
	Owner                string
}

// FilesOf returns cfg's credential paths, or an ErrConfig naming the first
// missing key of those needed (the certificate files only when withCert).
func FilesOf(cfg config.LabHost, withCert bool) (Files, error) {
	r := cfg.Receiver
	f := Files{Key: r.ClientKey, Cert: r.ClientCert, CA: r.CABundle, Token: r.TokenFile, Owner: cfg.Paths.DataDir}
	need := []struct{ key, val string }{{"receiver.token_file", r.TokenFile}}
	if withCert {
		need = append(need, struct{ key, val string }{"receiver.client_key", r.ClientKey},
			struct{ key, val string }{"receiver.client_cert", r.ClientCert},
			struct{ key, val string }{"receiver.ca_bundle", r.CABundle})
	}
	for _, n := range need {
		if n.val == "" {
			return f, fmt.Errorf("%w: [receiver] %s is not set; it names where the credential is written", ErrConfig, n.key[len("receiver."):])
		}
	}
	return f, nil
}

// nextPath is where a renewal stages a new key or certificate.
func nextPath(p string) string { return p + ".next" }

// StatePath is the renewal state file that sits beside the client
// certificate.
func StatePath(clientCert string) string {
	return filepath.Join(filepath.Dir(clientCert), "renewal.json")
}

// State is the last join or renewal outcome, for the doctor.
type State struct {
	Status     string `json:"status"` // joined, renewed, not-due, failed
	At         string `json:"at"`
	NotAfter   string `json:"not_after,omitempty"`
	RenewAfter string `json:"renew_after,omitempty"`
	Error      string `json:"error,omitempty"`
}

// ReadState reads the state file beside clientCert; found is false when
// there is none (a host whose certificate did not come from a join).
func ReadState(clientCert string) (State, bool, error) {
	var s State
	b, err := os.ReadFile(StatePath(clientCert))
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, true, fmt.Errorf("%s: %w", StatePath(clientCert), err)
	}
	return s, true, nil
}

func writeState(f Files, s State) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return atomicio.WriteFileOwned(StatePath(f.Cert), append(b, '\n'), 0o644, f.Owner)
}

// loadOrMakeKey returns the key at path when one is there (a retry reuses
// it), else makes an ECDSA P-256 key and writes it (0600) before anyone
// sees its public half.
func loadOrMakeKey(path, owner string) (crypto.Signer, bool, error) {
	if b, err := os.ReadFile(path); err == nil {
		k, err := pki.ParseKey(b)
		if err == nil && usableKey(k) {
			return k, true, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("key %s: %w", path, err)
	}
	k, err := pki.NewKey()
	if err != nil {
		return nil, false, err
	}
	pemKey, err := pki.EncodeKey(k)
	if err != nil {
		return nil, false, err
	}
	if err := atomicio.WriteFileOwned(path, pemKey, 0o600, owner); err != nil {
		return nil, false, fmt.Errorf("key: %w", err)
	}
	return k, false, nil
}

// usableKey reports whether k is of a kind the receiver signs.
func usableKey(k crypto.Signer) bool {
	switch p := k.Public().(type) {
	case *ecdsa.PublicKey:
		return p.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return true
	}
	return false
}

func now() time.Time { return time.Now() }

func fmtTime(t time.Time) string { return wire.FormatTime(t) }
