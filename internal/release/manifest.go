// Package release owns the signed release manifest of SPEC §15: its JSON
// form (release.json), the Ed25519 keys in PEM and the detached signature
// (release.json.sig), and the rollout rule that says when a host becomes
// eligible for a release. The receiver's release commands, its release
// routes and the shipper's update all go through it.
package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cis490/internal/wire"
)

// Names of the manifest and its signature inside a release directory
// (build.sh's dist/, a published release on the receiver).
const (
	ManifestFile  = "release.json"
	SignatureFile = "release.json.sig"
	// Type is the manifest's "type" field.
	Type = "cis490-release"
	// MaxManifestBytes bounds a manifest read from disk or the network.
	MaxManifestBytes = 64 << 10
)

// ErrBadManifest wraps every reason a manifest does not parse or is not
// well formed.
var ErrBadManifest = errors.New("bad release manifest")

// Manifest is release.json (SPEC §15). Seq, ExpiresAt and Rollout are
// absent until `release sign` adds them.
type Manifest struct {
	Type      string              `json:"type"`
	Version   string              `json:"version"`
	Commit    string              `json:"commit"`
	CreatedAt string              `json:"created_at"`
	Artifacts map[string]Artifact `json:"artifacts"`
	Seq       int64               `json:"seq,omitempty"`
	ExpiresAt string              `json:"expires_at,omitempty"`
	Rollout   *Rollout            `json:"rollout,omitempty"`
}

// Artifact is one per-arch release tarball.
type Artifact struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// Rollout is the staged rollout window: a host becomes eligible between
// StartAt and StartAt + Hours.
type Rollout struct {
	StartAt string `json:"start_at"`
	Hours   int    `json:"hours"`
}

// Parse decodes and checks a manifest. Unknown fields are refused: the
// signature covers the exact bytes, and a field this version does not
// understand might change what the signer meant.
func Parse(b []byte) (Manifest, error) {
	var m Manifest
	if len(b) > MaxManifestBytes {
		return m, fmt.Errorf("%w: %d bytes (limit %d)", ErrBadManifest, len(b), MaxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("%w: data after the JSON object", ErrBadManifest)
	}
	if err := m.Check(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Check reports the first rule m breaks.
func (m Manifest) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadManifest, fmt.Sprintf(format, args...))
	}
	if m.Type != Type {
		return bad("type %q, want %q", m.Type, Type)
	}
	if !ValidVersion(m.Version) {
		return bad("version %q is not a release name ([A-Za-z0-9][A-Za-z0-9._+-]{0,127})", m.Version)
	}
	if m.Commit != "unknown" {
		if _, ok := wire.NormalizeCommit(m.Commit); !ok {
			return bad("commit %q is not 40 hex digits", m.Commit)
		}
	}
	if _, err := wire.ParseTime(m.CreatedAt); err != nil {
		return bad("created_at %q is not an RFC 3339 time", m.CreatedAt)
	}
	if len(m.Artifacts) == 0 {
		return bad("no artifacts")
	}
	files := map[string]bool{}
	for arch, a := range m.Artifacts {
		if !validArch(arch) {
			return bad("artifact key %q is not linux-<arch>", arch)
		}
		if !ValidFileName(a.File) {
			return bad("artifact %s: file %q is not a plain file name", arch, a.File)
		}
		if files[a.File] {
			return bad("artifact %s: file %q is listed twice", arch, a.File)
		}
		files[a.File] = true
		if _, ok := wire.NormalizeSHA256(a.SHA256); !ok {
			return bad("artifact %s: sha256 %q is not 64 hex digits", arch, a.SHA256)
		}
		if a.Bytes <= 0 {
			return bad("artifact %s: bytes %d is not positive", arch, a.Bytes)
		}
	}
	if m.Seq < 0 {
		return bad("seq %d is negative", m.Seq)
	}
	if m.ExpiresAt != "" {
		if _, err := wire.ParseTime(m.ExpiresAt); err != nil {
			return bad("expires_at %q is not an RFC 3339 time", m.ExpiresAt)
		}
	}
	if r := m.Rollout; r != nil {
		if _, err := wire.ParseTime(r.StartAt); err != nil {
			return bad("rollout.start_at %q is not an RFC 3339 time", r.StartAt)
		}
		if r.Hours < 0 || r.Hours > 24*365 {
			return bad("rollout.hours %d is not in 0..8760", r.Hours)
		}
	}
	return nil
}

// Signed reports whether m carries what `release sign` adds: a seq, an
// expiry and a rollout window.
func (m Manifest) Signed() bool {
	return m.Seq > 0 && m.ExpiresAt != "" && m.Rollout != nil
}

// Expired reports whether m's expires_at is at or before now.
func (m Manifest) Expired(now time.Time) bool {
	t, err := wire.ParseTime(m.ExpiresAt)
	return err != nil || !now.Before(t)
}

// Encode renders m as the indented JSON that build.sh and `release sign`
// write, with a final newline.
func (m Manifest) Encode() []byte {
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

// ArchKey returns the artifact key of a Go GOARCH: "linux-" + arch.
func ArchKey(goarch string) string { return "linux-" + goarch }

// Bucket returns u of SPEC §15 for a host and a version: the first four
// bytes of sha256(host "\n" version) read big-endian, divided by 2^32.
func Bucket(host, version string) float64 {
	sum := sha256.Sum256([]byte(host + "\n" + version))
	return float64(binary.BigEndian.Uint32(sum[:4])) / (1 << 32)
}

// EligibleAt returns when host becomes eligible for m: start_at + hours × u,
// with u = 0 for the canary ring. A manifest without a rollout is eligible
// at once (the zero time).
func (m Manifest) EligibleAt(host, ring string) time.Time {
	if m.Rollout == nil {
		return time.Time{}
	}
	start, err := wire.ParseTime(m.Rollout.StartAt)
	if err != nil {
		return time.Time{}
	}
	u := 0.0
	if ring != RingCanary {
		u = Bucket(host, m.Version)
	}
	return start.Add(time.Duration(float64(m.Rollout.Hours) * u * float64(time.Hour))).UTC()
}

// RingCanary is the [update] ring whose hosts take a release at start_at.
const RingCanary = "canary"

// ValidVersion reports whether s can name a release (a tag or a commit):
// ^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$. It becomes a directory name on the
// host, so it is never "." or ".." and never holds "/".
func ValidVersion(s string) bool {
	if len(s) == 0 || len(s) > 128 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("._+-", rune(c)) {
			return false
		}
	}
	return true
}

// ValidFileName reports whether s is a plain file name that may be served
// from and stored in a release directory: a version-like name, not one of
// the manifest's own names.
func ValidFileName(s string) bool {
	return ValidVersion(s) && s != ManifestFile && s != SignatureFile
}

func validArch(k string) bool {
	a, ok := strings.CutPrefix(k, "linux-")
	if !ok || a == "" || len(a) > 16 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if !isAlnum(a[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
