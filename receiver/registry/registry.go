// Package registry is the receiver's host registry (SPEC §14):
// data_dir/hosts/<host>.json, one file per joined or joining host, holding
// the sha256 of its token and of its open join secret (never the secrets),
// its join expiry, its certificate's serial and not_after, and revoked_at.
//
// The CLI (`host add|list|revoke`) and the server both write entries with
// Update, under one lock file and each atomically; a running receiver sees
// another writer's change within ReloadEvery. A file that does not parse
// fails closed: the host it names is refused (401), never let through.
// This package owns the format; List is the read API for other commands.
package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
)

// lockFile serialises writers (CLI and server) across processes.
const lockFile = ".lock"

// JoinPrefix starts every join secret; TokenPrefix every host token.
const (
	JoinPrefix  = "cis490j_"
	TokenPrefix = "cis490t_"
)

// ErrUnknownHost reports a host without a registry entry.
var ErrUnknownHost = errors.New("unknown host")

// ErrUnusable reports an entry file that does not parse: its host's
// requests fail closed until the operator fixes or removes it.
var ErrUnusable = errors.New("registry entry unusable")

// Time is a timestamp of an entry, stored in the form of SPEC §2 (UTC,
// milliseconds, "Z").
type Time struct{ time.Time }

// At returns t as a *Time, truncated to milliseconds.
func At(t time.Time) *Time { return &Time{t.UTC().Truncate(time.Millisecond)} }

// MarshalJSON renders the timestamp as wire.FormatTime does.
func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(wire.FormatTime(t.Time)) }

// UnmarshalJSON accepts any RFC 3339 timestamp.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := wire.ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}

// Entry is one host's record: the JSON of data_dir/hosts/<host>.json.
// Times are nil when absent; sums are lowercase hex of sha256.
type Entry struct {
	Host          string `json:"host"`
	AddedAt       *Time  `json:"added_at"`
	JoinedAt      *Time  `json:"joined_at"`
	TokenSHA256   string `json:"token_sha256,omitempty"`
	JoinSHA256    string `json:"join_sha256,omitempty"`
	JoinExpiresAt *Time  `json:"join_expires_at"`
	// JoinKeySHA256 is the sum of the public key the open join secret was
	// first used with: the same key may join again, another may not.
	JoinKeySHA256 string `json:"join_key_sha256,omitempty"`
	CertSerial    string `json:"cert_serial,omitempty"`
	// PrevCertSerial is the certificate a renewal replaced, still accepted
	// while the host's transport moves to the new one.
	PrevCertSerial string `json:"prev_cert_serial,omitempty"`
	CertNotAfter   *Time  `json:"cert_not_after"`
	RevokedAt      *Time  `json:"revoked_at"`
}

// Revoked reports whether the host has been revoked.
func (e *Entry) Revoked() bool { return e.RevokedAt != nil }

// JoinOpen reports whether the entry has a join secret that is not expired
// at now and not void by revocation.
func (e *Entry) JoinOpen(now time.Time) bool {
	return e.JoinSHA256 != "" && !e.Revoked() && e.JoinExpiresAt != nil && now.Before(e.JoinExpiresAt.Time)
}

// Sum returns the lowercase hex sha256 of a secret, the form entries keep.
func Sum(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// SumMatches compares a stored sum with a secret in constant time.
func SumMatches(stored, secret string) bool {
	got := Sum(secret)
	return stored != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(got)) == 1
}

// NewSecret returns prefix + 32 random bytes in unpadded base64url.
func NewSecret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Path returns the entry file of host under dataDir.
func Path(dataDir, host string) string {
	return filepath.Join(datadir.New(dataDir).Hosts(), host+".json")
}

// Problem is a registry file that cannot be used.
type Problem struct {
	File   string
	Host   string
	Detail string
}

// List reads every entry under dataDir, sorted by host, and the files that
// do not parse. A missing hosts/ directory is an empty registry.
func List(dataDir string) ([]Entry, []Problem, error) {
	dir := datadir.New(dataDir).Hosts()
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("host registry: %w", err)
	}
	var entries []Entry
	var problems []Problem
	for _, de := range des {
		name := de.Name()
		host, ok := strings.CutSuffix(name, ".json")
		if !ok || strings.HasPrefix(name, ".") {
			if isTemp(name) {
				problems = append(problems, Problem{File: filepath.Join(dir, name), Detail: "leftover temp file of an interrupted write"})
			}
			continue
		}
		e, err := readEntry(filepath.Join(dir, name), host)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed while listing
			}
			problems = append(problems, Problem{File: filepath.Join(dir, name), Host: host, Detail: err.Error()})
			continue
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Host < entries[j].Host })
	return entries, problems, nil
}

// Read returns host's entry; an absent one matches ErrUnknownHost.
func Read(dataDir, host string) (Entry, error) {
	if !wire.ValidHost(host) {
		return Entry{}, fmt.Errorf("%q: %w", host, ErrUnknownHost)
	}
	e, err := readEntry(Path(dataDir, host), host)
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, fmt.Errorf("%s: %w", host, ErrUnknownHost)
	}
	return e, err
}

// maxEntryBytes bounds an entry file; a real one is well under 1 KiB.
const maxEntryBytes = 64 << 10

func readEntry(path, host string) (Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEntryBytes+1))
	if err != nil {
		return Entry{}, err
	}
	if len(b) > maxEntryBytes {
		return Entry{}, fmt.Errorf("larger than %d bytes", maxEntryBytes)
	}
	return parseEntry(b, host)
}

// parseEntry decodes an entry strictly: the JSON must be one object naming
// the same host as its file, with well-formed sums.
func parseEntry(b []byte, host string) (Entry, error) {
	var e Entry
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("%w: does not parse: %v", ErrUnusable, err)
	}
	if dec.More() {
		return Entry{}, fmt.Errorf("%w: does not parse: data after the JSON object", ErrUnusable)
	}
	if e.Host != host {
		return Entry{}, fmt.Errorf("%w: names host %q, but the file is for %q", ErrUnusable, e.Host, host)
	}
	for k, v := range map[string]string{"token_sha256": e.TokenSHA256, "join_sha256": e.JoinSHA256, "join_key_sha256": e.JoinKeySHA256} {
		if _, ok := wire.NormalizeSHA256(v); v != "" && (!ok || strings.ToLower(v) != v) {
			return Entry{}, fmt.Errorf("%w: %s is not 64 lowercase hex digits", ErrUnusable, k)
		}
	}
	if e.JoinSHA256 != "" && e.JoinExpiresAt == nil {
		return Entry{}, fmt.Errorf("%w: join_sha256 without join_expires_at", ErrUnusable)
	}
	return e, nil
}

// encode renders an entry as its file's bytes.
func encode(e Entry) ([]byte, error) {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Update reads host's entry from disk under the registry's lock, lets fn
// change it (exists says whether there was one), and writes it back
// atomically when fn returns nil. fn's error is returned as is and nothing
// is written. A file that does not parse is an error: it is never silently
// replaced. Run as root (the CLI under sudo), the files it creates get the
// owner of dataDir, the receiver's user.
func Update(dataDir, host string, fn func(e *Entry, exists bool) error) (Entry, error) {
	if !wire.ValidHost(host) {
		return Entry{}, fmt.Errorf("%q is not a valid host id", host)
	}
	dir := datadir.New(dataDir).Hosts()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Entry{}, fmt.Errorf("host registry: %w", err)
	}
	if err := atomicio.ChownLike(dir, dataDir); err != nil {
		return Entry{}, err
	}
	unlock, err := lock(dir, dataDir)
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	path := Path(dataDir, host)
	e, err := readEntry(path, host)
	exists := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
		e = Entry{Host: host}
	case err != nil:
		return Entry{}, fmt.Errorf("host registry %s: %w", path, err)
	}
	if err := fn(&e, exists); err != nil {
		return Entry{}, err
	}
	b, err := encode(e)
	if err != nil {
		return Entry{}, err
	}
	if err := atomicio.WriteFileOwned(path, b, 0o640, dataDir); err != nil {
		return Entry{}, fmt.Errorf("host registry: %w", err)
	}
	return e, nil
}

// lock takes the registry's exclusive lock, waiting for another writer.
func lock(dir, ownerRef string) (func(), error) {
	p := filepath.Join(dir, lockFile)
	unlock, err := atomicio.Lock(p, 0o640)
	if err != nil {
		return nil, fmt.Errorf("host registry: %w", err)
	}
	_ = atomicio.ChownLike(p, ownerRef)
	return unlock, nil
}

// isTemp reports whether name is the temp file of an atomic write.
func isTemp(name string) bool { return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") }

// RemoveTemps deletes temp files of interrupted writes, under the lock so
// that a writer at work keeps its own; the receiver calls it at start.
func RemoveTemps(dataDir string) (int, error) {
	dir := datadir.New(dataDir).Hosts()
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	unlock, err := lock(dir, dataDir)
	if err != nil {
		return 0, err
	}
	defer unlock()
	n := 0
	for _, de := range des {
		if isTemp(de.Name()) {
			if os.Remove(filepath.Join(dir, de.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}
