package registry

import (
	"fmt"
	"time"
)

// Add creates host's entry or re-opens it with a new join secret valid for
// ttl, and returns the secret: the only time it exists outside the host
// that uses it. Re-opening a revoked host clears the revocation and voids
// its old token and certificate record; re-opening a joined host keeps its
// token working until the new join replaces it.
func Add(dataDir, host string, ttl time.Duration, now time.Time) (Entry, string, error) {
	secret, err := NewSecret(JoinPrefix)
	if err != nil {
		return Entry{}, "", err
	}
	e, err := Update(dataDir, host, func(e *Entry, exists bool) error {
		if !exists || e.AddedAt == nil {
			e.AddedAt = At(now)
		}
		if e.Revoked() {
			e.RevokedAt = nil
			e.TokenSHA256 = ""
			e.CertSerial, e.PrevCertSerial = "", ""
			e.CertNotAfter = nil
		}
		e.JoinSHA256 = Sum(secret)
		e.JoinExpiresAt = At(now.Add(ttl))
		e.JoinKeySHA256 = ""
		return nil
	})
	if err != nil {
		return Entry{}, "", fmt.Errorf("host add %s: %w", host, err)
	}
	return e, secret, nil
}

// Revoke marks host revoked at now. The entry keeps its sums so that every
// credential naming the host is recognised and refused as revoked. create
// allows an entry for a host the registry does not list yet (one with an
// [auth.hosts] token); otherwise an unknown host matches ErrUnknownHost.
func Revoke(dataDir, host string, now time.Time, create bool) (Entry, error) {
	e, err := Update(dataDir, host, func(e *Entry, exists bool) error {
		if !exists && !create {
			return fmt.Errorf("%s: %w", host, ErrUnknownHost)
		}
		if !exists {
			e.AddedAt = At(now)
		}
		if e.RevokedAt == nil {
			e.RevokedAt = At(now)
		}
		return nil
	})
	if err != nil {
		return Entry{}, fmt.Errorf("host revoke: %w", err)
	}
	return e, nil
}
