package wire

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	idRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	hostRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

func TestIDAndHostRules(t *testing.T) {
	cases := []struct {
		in       string
		id, host bool
	}{
		{"ep-0001", true, true},
		{"a", true, true},
		{"A.b_c-d", true, true},
		{"", false, false},
		{".hidden", false, false},
		{"-x", false, false},
		{"_x", false, false},
		{"a/b", false, false},
		{"a b", false, false},
		{"a\x00b", false, false},
		{"..", false, false},
		{"é", false, false},
		{strings.Repeat("a", 64), true, true},
		{strings.Repeat("a", 65), true, false},
		{strings.Repeat("a", 128), true, false},
		{strings.Repeat("a", 129), false, false},
	}
	for _, tc := range cases {
		if got := ValidID(tc.in); got != tc.id {
			t.Errorf("ValidID(%q) = %v, want %v", tc.in, got, tc.id)
		}
		if got := ValidHost(tc.in); got != tc.host {
			t.Errorf("ValidHost(%q) = %v, want %v", tc.in, got, tc.host)
		}
	}
}

func TestNormalizeHex(t *testing.T) {
	c := strings.Repeat("aB", 20)
	if got, ok := NormalizeCommit(c); !ok || got != strings.Repeat("ab", 20) {
		t.Errorf("NormalizeCommit(%q) = %q %v", c, got, ok)
	}
	for _, bad := range []string{"", strings.Repeat("a", 39), strings.Repeat("a", 41), strings.Repeat("g", 40)} {
		if _, ok := NormalizeCommit(bad); ok {
			t.Errorf("NormalizeCommit(%q) accepted", bad)
		}
	}
	if _, ok := NormalizeSHA256(strings.Repeat("F", 64)); !ok {
		t.Error("upper-case sha256 refused")
	}
}

func TestFormatTime(t *testing.T) {
	ts := time.Date(2026, 11, 22, 15, 3, 4, 123456789, time.FixedZone("x", 3600))
	if got := FormatTime(ts); got != "2026-11-22T14:03:04.123Z" {
		t.Errorf("FormatTime = %s", got)
	}
	if got := FormatTime(ts.Truncate(time.Second)); got != "2026-11-22T14:03:04.000Z" {
		t.Errorf("FormatTime keeps zero millis: %s", got)
	}
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer ": "", "": ""} {
		if got := BearerToken(in); got != want {
			t.Errorf("BearerToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNames(f *testing.F) {
	for _, s := range []string{"ep-1", ".x", "a/b", strings.Repeat("z", 130), "a\x00", "ep1.tar.zst"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidID(s) != idRE.MatchString(s) {
			t.Errorf("ValidID(%q) disagrees with the spec's expression", s)
		}
		if ValidHost(s) != hostRE.MatchString(s) {
			t.Errorf("ValidHost(%q) disagrees with the spec's expression", s)
		}
		if ValidID(s) && (strings.Contains(s, "/") || strings.HasPrefix(s, ".")) {
			t.Errorf("id %q could escape store/", s)
		}
		id, ok := EpisodeFromPath(s)
		if ok && EpisodeURLPath(id) != EpisodesPrefix+s {
			t.Errorf("EpisodeFromPath(%q) does not round-trip", s)
		}
		if c, ok := NormalizeCommit(s); ok && (len(c) != 40 || strings.ToLower(s) != c) {
			t.Errorf("NormalizeCommit(%q) = %q", s, c)
		}
	})
}

func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"Bearer x", "bearer", "BEARER a b", "3", "v1.2-rc_3", strings.Repeat("1", 33)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tok := BearerToken(s); tok != strings.TrimSpace(tok) || (tok != "" && !strings.Contains(s, tok)) {
			t.Errorf("BearerToken(%q) = %q", s, tok)
		}
		if ValidSchemaVersion(s) && (len(s) > 32 || strings.ContainsAny(s, " /\"\n")) {
			t.Errorf("schema version %q accepted", s)
		}
	})
}
