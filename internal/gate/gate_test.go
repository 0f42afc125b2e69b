package gate

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/wire"
)

const (
	c1 = "1111111111111111111111111111111111111111"
	c2 = "abcdef0123456789abcdef0123456789abcdef01"
	c3 = "3333333333333333333333333333333333333333"
)

func mustSnapshot(tb testing.TB, commits []string, window int) *Snapshot {
	tb.Helper()
	s, err := NewSnapshot(commits, window, "forgejo", time.Unix(1000, 0))
	if err != nil {
		tb.Fatalf("NewSnapshot: %v", err)
	}
	return s
}

func TestParseCommit(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"lowercase", c2, true},
		{"uppercase", strings.ToUpper(c2), true},
		{"mixed case", "ABCdef0123456789abcdef0123456789ABCDEF01", true},
		{"empty", "", false},
		{"short", c2[:39], false},
		{"long", c2 + "0", false},
		{"non-hex", "g" + c2[1:], false},
		{"space", " " + c2[1:], false},
		{"sha256 length", strings.Repeat("a", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := ParseCommit(tt.in)
			if ok != tt.ok {
				t.Fatalf("ParseCommit(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if ok && c.String() != strings.ToLower(tt.in) {
				t.Errorf("String() = %q, want %q", c.String(), strings.ToLower(tt.in))
			}
		})
	}
}

func TestSnapshotCheck(t *testing.T) {
	s := mustSnapshot(t, []string{c1, c2}, 100)
	tests := []struct {
		name    string
		snap    *Snapshot
		header  string
		present bool
		want    Verdict
	}{
		{"head passes", s, c1, true, Pass},
		{"older commit passes", s, c2, true, Pass},
		{"upper-case commit passes", s, strings.ToUpper(c2), true, Pass},
		{"unknown commit is out of window", s, c3, true, NotInWindow},
		{"absent header is missing", s, "", false, MissingCommit},
		{"empty header is missing", s, "", true, MissingCommit},
		{"short header is malformed", s, "abc", true, MalformedCommit},
		{"never loaded is unavailable", nil, c1, true, Unavailable},
		{"never loaded still reports missing first", nil, "", false, MissingCommit},
		{"never loaded still reports malformed first", nil, "xyz", true, MalformedCommit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.snap.Check(tt.header, tt.present); got != tt.want {
				t.Errorf("Check(%q, %v) = %q, want %q", tt.header, tt.present, got, tt.want)
			}
		})
	}
}

func TestNewSnapshot(t *testing.T) {
	t.Run("head is first and lowercase", func(t *testing.T) {
		s := mustSnapshot(t, []string{strings.ToUpper(c2), c1}, 10)
		if s.Head != c2 {
			t.Errorf("Head = %q, want %q", s.Head, c2)
		}
		if s.Len() != 2 {
			t.Errorf("Len = %d, want 2", s.Len())
		}
	})
	t.Run("cut to window", func(t *testing.T) {
		s := mustSnapshot(t, []string{c1, c2, c3}, 2)
		if s.Len() != 2 {
			t.Errorf("Len = %d, want 2", s.Len())
		}
		if got := s.Check(c3, true); got != NotInWindow {
			t.Errorf("commit past the window: %q, want %q", got, NotInWindow)
		}
	})
	t.Run("empty list is an error", func(t *testing.T) {
		if _, err := NewSnapshot(nil, 100, "git", time.Time{}); !errors.Is(err, ErrEmptyList) {
			t.Errorf("err = %v, want ErrEmptyList", err)
		}
	})
	t.Run("malformed entry is an error", func(t *testing.T) {
		if _, err := NewSnapshot([]string{c1, "nope"}, 100, "git", time.Time{}); err == nil {
			t.Error("err = nil, want an error")
		}
	})
	t.Run("same commits", func(t *testing.T) {
		a := mustSnapshot(t, []string{c1, c2}, 10)
		b := mustSnapshot(t, []string{c1, strings.ToUpper(c2)}, 10)
		c := mustSnapshot(t, []string{c2, c1}, 10)
		if !a.SameCommits(b) {
			t.Error("a, b differ, want same")
		}
		if a.SameCommits(c) {
			t.Error("a, c same, want different heads")
		}
		if a.SameCommits(nil) {
			t.Error("a, nil same, want different")
		}
	})
}

func TestRefusal(t *testing.T) {
	s := mustSnapshot(t, []string{c1, c2}, 100)
	rem := config.DefaultRemediation
	tests := []struct {
		name       string
		v          Verdict
		header     string
		wantStatus int
		wantCode   string
		wantBody   wire.ErrorBody
		retryAfter int
	}{
		{"missing", MissingCommit, "", http.StatusBadRequest, wire.CodeMissingCommit,
			wire.ErrorBody{Remediation: rem}, 0},
		{"malformed", MalformedCommit, "zz", http.StatusBadRequest, wire.CodeMalformedCommit,
			wire.ErrorBody{Remediation: rem}, 0},
		{"not in window", NotInWindow, strings.ToUpper(c3), http.StatusPreconditionFailed, wire.CodeCommitNotInWindow,
			wire.ErrorBody{Remediation: rem, YourCommit: c3, HeadCommit: c1, Window: 100}, 0},
		{"unavailable", Unavailable, c1, http.StatusServiceUnavailable, wire.CodeGateUnavailable,
			wire.ErrorBody{}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Refusal(tt.v, tt.header, s, rem)
			if e == nil {
				t.Fatal("Refusal = nil, want an error")
			}
			if e.Status != tt.wantStatus || e.Code != tt.wantCode || e.RetryAfter != tt.retryAfter {
				t.Errorf("got %d %s retry %d, want %d %s retry %d", e.Status, e.Code, e.RetryAfter, tt.wantStatus, tt.wantCode, tt.retryAfter)
			}
			raw, err := json.Marshal(e.Body())
			if err != nil {
				t.Fatal(err)
			}
			var got wire.ErrorBody
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			want := tt.wantBody
			want.Error, want.Detail = tt.wantCode, e.Detail
			if got != want {
				t.Errorf("body = %+v, want %+v", got, want)
			}
			if e.Detail == "" {
				t.Error("empty detail")
			}
		})
	}
	for _, v := range []Verdict{Pass, Disabled} {
		t.Run(string(v)+" has no refusal", func(t *testing.T) {
			if e := Refusal(v, c1, s, rem); e != nil {
				t.Errorf("Refusal = %v, want nil", e)
			}
			if v.Refused() {
				t.Error("Refused() = true")
			}
		})
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	s := mustSnapshot(t, []string{c1, c2}, 100)
	up := strings.ToUpper(c2)
	if n := testing.AllocsPerRun(100, func() { s.Check(up, true) }); n != 0 {
		t.Errorf("Check allocates %v times per call, want 0", n)
	}
}

// BenchmarkCheck measures one gate decision against a full window of 100
// commits, with an upper-case header that has to be normalised.
func BenchmarkCheck(b *testing.B) {
	commits := make([]string, 100)
	for i := range commits {
		var c Commit
		c[0], c[1] = byte(i), 0xab
		commits[i] = c.String()
	}
	s := mustSnapshot(b, commits, 100)
	header := strings.ToUpper(commits[57])
	b.ReportAllocs()
	for b.Loop() {
		if s.Check(header, true) != Pass {
			b.Fatal("not pass")
		}
	}
}

func FuzzParseCommit(f *testing.F) {
	for _, s := range []string{c1, c2, strings.ToUpper(c2), "", "xyz", c2 + "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseCommit(s)
		if !ok {
			return
		}
		if got := c.String(); got != strings.ToLower(s) {
			t.Fatalf("round trip %q -> %q", s, got)
		}
		again, ok := ParseCommit(c.String())
		if !ok || again != c {
			t.Fatalf("reparse of %q failed", c.String())
		}
	})
}
