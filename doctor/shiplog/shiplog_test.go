package shiplog

import (
	"maps"
	"strconv"
	"strings"
	"testing"
)

func TestFields(t *testing.T) {
	tests := []struct {
		name string
		line string
		want map[string]string
	}{
		{
			name: "bare values",
			line: `level=ERROR msg="ship rejected" id=ep-1 status=412 error=commit-not-in-window`,
			want: map[string]string{"level": "ERROR", "msg": "ship rejected", "id": "ep-1", "status": "412", "error": "commit-not-in-window"},
		},
		{
			name: "leading time and escaped newlines",
			line: `time=2026-11-23T14:00:00.000Z level=ERROR msg="ship rejected" remediation="cd /opt\nsudo \"x\""`,
			want: map[string]string{"time": "2026-11-23T14:00:00.000Z", "level": "ERROR", "msg": "ship rejected", "remediation": "cd /opt\nsudo \"x\""},
		},
		{
			name: "bare words and an unclosed quote",
			line: `panic: oops key=v msg="never closed`,
			want: map[string]string{"key": "v", "msg": "never closed"},
		},
		{name: "empty", line: "", want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fields(tt.line); !maps.Equal(got, tt.want) {
				t.Errorf("Fields = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRead(t *testing.T) {
	log := strings.Join([]string{
		`level=INFO msg=shipped id=ep-0 status=201`,
		`level=INFO msg="shipped (duplicate)" id=ep-0 status=200`,
		`level=ERROR msg="ship rejected" id=ep-1 status=412 error=commit-not-in-window remediation="old fix"`,
		`time=2026-11-23T14:00:00.000Z level=ERROR msg="ship rejected" id=ep-2 status=412 error=commit-not-in-window remediation="cd /opt/cis490\nsudo restart"`,
		`level=ERROR msg="ship rejected" id=ep-3 status=400 error=missing-commit`,
		`level=ERROR msg="ship refused: credentials" id=ep-4 status=401 error=unauthorized`,
		`level=WARN msg="ship failed, will retry" id=ep-5 status=503 error=gate-unavailable retry_in=40s`,
		`level=WARN msg="ship failed, will retry" id=ep-5 status=503 error=gate-unavailable retry_in=80s`,
		`level=WARN msg="ship failed, will retry" id=ep-6 status=0 error=network detail="dial tcp: refused" retry_in=5s`,
		`-- No entries --`,
		`some unrelated line with status=412`,
	}, "\n")
	s, err := Read(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if s.Shipped != 2 || s.OutOfWindow != 2 {
		t.Errorf("shipped %d, out-of-window %d; want 2, 2", s.Shipped, s.OutOfWindow)
	}
	if got, want := s.Remediation, "cd /opt/cis490\nsudo restart"; got != want {
		t.Errorf("remediation = %q, want the newest %q", got, want)
	}
	for _, c := range []struct {
		name string
		got  map[string]int
		want map[string]int
	}{
		{"rejected", s.Rejected, map[string]int{"400 missing-commit": 1}},
		{"refused", s.Refused, map[string]int{"401 unauthorized": 1}},
		{"transient", s.Transient, map[string]int{"503 gate-unavailable": 2, "network": 1}},
	} {
		if !maps.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// FuzzFields checks the round trip: a line written as slog's text handler
// writes it parses back to the same pairs.
func FuzzFields(f *testing.F) {
	f.Add("msg", "ship rejected", "remediation", "a\nb \"c\"")
	f.Add("status", "412", "error", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		for _, k := range []string{k1, k2} {
			if k == "" || strings.ContainsAny(k, "= \"\\") || strings.ContainsFunc(k, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
				return
			}
		}
		if k1 == k2 {
			return
		}
		line := k1 + "=" + quote(v1) + " " + k2 + "=" + quote(v2)
		got := Fields(line)
		if got[k1] != v1 || got[k2] != v2 || len(got) != 2 {
			t.Errorf("Fields(%q) = %q", line, got)
		}
	})
}

// quote quotes v when slog's text handler would: empty, or holding a space,
// '=', '"' or a non-printable character.
func quote(v string) string {
	if v == "" || strings.ContainsAny(v, " =\"") || strings.ContainsFunc(v, func(r rune) bool { return r < 0x21 || r == 0x7f || r > 0x7e }) {
		return strconv.Quote(v)
	}
	return v
}
