// Package wire holds the names both ends of the transport agree on: routes,
// headers, identifier rules, error codes and the timestamp format (SPEC §2, §4).
package wire

import (
	"strings"
	"time"
)

// Routes served by the receiver.
const (
	EpisodesPrefix   = "/v1/episodes/"
	EpisodeSuffix    = ".tar.zst"
	PingPath         = "/v1/ping"
	HostHealthPrefix = "/v1/host-health/"
	HostHealthPath   = "/v1/host-health"
	HealthzPath      = "/healthz"
	MetricsPath      = "/metrics"
	// Releases (SPEC §15): the signed manifest, its signature, the public
	// key and the artifacts.
	ReleaseCurrentPath = "/v1/releases/current"
	ReleaseSigPath     = "/v1/releases/current.sig"
	ReleaseKeyPath     = "/v1/releases/key"
	ReleaseFilesPrefix = "/v1/releases/files/"
	// Joining hosts (SPEC §14): the fleet CA, a join, a renewal.
	CAPath    = "/v1/ca"
	JoinPath  = "/v1/join"
	RenewPath = "/v1/certs/renew"
	// FleetPath is the fleet view (SPEC §16).
	FleetPath = "/v1/fleet"
)

// Request and response headers (SPEC §4.1).
const (
	HeaderAuthorization = "Authorization"
	HeaderSHA256        = "X-Content-SHA256"
	HeaderCommit        = "X-Cis490-Code-Commit"
	HeaderHost          = "X-Cis490-Host"
	HeaderSchemaVersion = "X-Cis490-Schema-Version"
	HeaderRetryAfter    = "Retry-After"
)

// TimeLayout is the one timestamp format of every file and JSON body:
// RFC 3339, UTC, milliseconds, "Z".
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeLayout after converting it to UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses any RFC 3339 timestamp, including TimeLayout.
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// ValidID reports whether s is a valid episode id:
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$.
func ValidID(s string) bool { return validName(s, 128) }

// ValidHost reports whether s is a valid host id:
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$.
func ValidHost(s string) bool { return validName(s, 64) }

func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > max || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ValidSchemaVersion reports whether s may be copied into an index row:
// at most 32 characters of [A-Za-z0-9._-], not empty.
func ValidSchemaVersion(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// NormalizeCommit returns the lowercase form of a 40-hex commit and whether s
// was one.
func NormalizeCommit(s string) (string, bool) { return normalizeHex(s, 40) }

// NormalizeSHA256 returns the lowercase form of a 64-hex digest and whether s
// was one.
func NormalizeSHA256(s string) (string, bool) { return normalizeHex(s, 64) }

func normalizeHex(s string, n int) (string, bool) {
	if len(s) != n {
		return "", false
	}
	for i := 0; i < n; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// EpisodeFromPath splits an episode route's remainder into the id and whether
// it carried the .tar.zst suffix. name is the path after EpisodesPrefix.
func EpisodeFromPath(name string) (id string, hasSuffix bool) {
	id, hasSuffix = strings.CutSuffix(name, EpisodeSuffix)
	return id, hasSuffix
}

// EpisodeURLPath returns the route of an episode tarball.
func EpisodeURLPath(id string) string { return EpisodesPrefix + id + EpisodeSuffix }

// BearerToken extracts the token from an Authorization header value, or ""
// when the header is not a bearer credential.
func BearerToken(h string) string {
	const p = "Bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):])
	}
	return ""
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
