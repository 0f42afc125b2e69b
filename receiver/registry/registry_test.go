package registry

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/receiver/datadir"
)

var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

func mustAdd(tb testing.TB, dir, host string) (Entry, string) {
	tb.Helper()
	e, secret, err := Add(dir, host, time.Hour, t0)
	if err != nil {
		tb.Fatal(err)
	}
	return e, secret
}

func TestAddStoresOnlySums(t *testing.T) {
	dir := t.TempDir()
	e, secret := mustAdd(t, dir, "lab7")
	if !strings.HasPrefix(secret, JoinPrefix) || len(secret) != len(JoinPrefix)+43 {
		t.Fatalf("secret %q: want %s + 43 base64url characters (32 bytes)", secret, JoinPrefix)
	}
	b, err := os.ReadFile(Path(dir, "lab7"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(strings.TrimPrefix(secret, JoinPrefix))) {
		t.Fatalf("entry file holds the secret itself:\n%s", b)
	}
	if !SumMatches(e.JoinSHA256, secret) || !e.JoinOpen(t0.Add(59*time.Minute)) || e.JoinOpen(t0.Add(time.Hour)) {
		t.Fatalf("entry %+v: want the secret's sum, open for exactly the ttl", e)
	}
	if !bytes.Contains(b, []byte(`"added_at": "2026-11-22T14:00:00.000Z"`)) {
		t.Fatalf("timestamps not in the SPEC §2 form:\n%s", b)
	}
}

func TestRevokeAndReopen(t *testing.T) {
	dir := t.TempDir()
	if _, err := Revoke(dir, "ghost", t0, false); !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("revoke of an unknown host: %v, want ErrUnknownHost", err)
	}
	mustAdd(t, dir, "lab7")
	if _, err := Update(dir, "lab7", func(e *Entry, _ bool) error {
		e.TokenSHA256, e.CertSerial = Sum(TokenPrefix+"x"), "abc"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e, err := Revoke(dir, "lab7", t0.Add(time.Minute), false)
	if err != nil || !e.Revoked() || e.JoinOpen(t0) {
		t.Fatalf("revoke: %+v, %v; want revoked with the join void", e, err)
	}
	e, secret, err := Add(dir, "lab7", time.Hour, t0.Add(2*time.Minute))
	if err != nil || e.Revoked() || e.TokenSHA256 != "" || e.CertSerial != "" || !SumMatches(e.JoinSHA256, secret) {
		t.Fatalf("re-open after revoke: %+v, %v; want a fresh join and the old token and certificate void", e, err)
	}
	if !e.AddedAt.Equal(t0) {
		t.Fatalf("added_at %v, want the first add's %v", e.AddedAt, t0)
	}
}

func TestUpdateErrorWritesNothing(t *testing.T) {
	dir := t.TempDir()
	mustAdd(t, dir, "lab7")
	before, _ := os.ReadFile(Path(dir, "lab7"))
	boom := errors.New("refused")
	if _, err := Update(dir, "lab7", func(e *Entry, _ bool) error { e.RevokedAt = At(t0); return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update: %v, want fn's error", err)
	}
	after, _ := os.ReadFile(Path(dir, "lab7"))
	if !bytes.Equal(before, after) {
		t.Fatalf("a refused update changed the file:\n%s\n->\n%s", before, after)
	}
}

func TestBrokenFileFailsClosed(t *testing.T) {
	dir := t.TempDir()
	mustAdd(t, dir, "lab7")
	v, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.State("lab7"); got != Listed {
		t.Fatalf("state %v, want Listed", got)
	}
	for name, body := range map[string]string{
		"torn":       `{"host":"lab7","added_at":"2026-11-22T14:00:00.000Z"`,
		"other host": `{"host":"lab8"}`,
		"bad sum":    `{"host":"lab7","token_sha256":"xyz"}`,
		"unknown":    `{"host":"lab7","tokn":"x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(Path(dir, "lab7"), []byte(body), 0o640); err != nil {
				t.Fatal(err)
			}
			// A changed size is what the refresh notices.
			if err := v.Refresh(); err != nil {
				t.Fatal(err)
			}
			if got := v.State("lab7"); got != Broken {
				t.Fatalf("state %v, want Broken", got)
			}
			_, probs, err := List(dir)
			if err != nil || len(probs) != 1 || probs[0].Host != "lab7" || !strings.Contains(probs[0].File, "lab7.json") {
				t.Fatalf("List problems %+v, %v; want lab7.json named", probs, err)
			}
			if _, _, err := Add(dir, "lab7", time.Hour, t0); err == nil {
				t.Fatal("host add over an unparsable file succeeded; want it refused, the file kept for the operator")
			}
		})
	}
}

func TestViewSeesOtherWriters(t *testing.T) {
	dir := t.TempDir()
	v, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := TokenPrefix + "abc"
	if _, err := Update(dir, "lab7", func(e *Entry, _ bool) error { e.TokenSHA256 = Sum(tok); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.TokenHost(tok); ok {
		t.Fatal("the view knew the token before a refresh")
	}
	if err := v.Refresh(); err != nil {
		t.Fatal(err)
	}
	if h, ok := v.TokenHost(tok); !ok || h != "lab7" {
		t.Fatalf("TokenHost = %q, %v; want lab7", h, ok)
	}
	if _, err := Revoke(dir, "lab7", t0, false); err != nil {
		t.Fatal(err)
	}
	v.Refresh()
	if got := v.State("lab7"); got != Revoked {
		t.Fatalf("state %v after revoke, want Revoked", got)
	}
	if h, ok := v.TokenHost(tok); !ok || h != "lab7" {
		t.Fatal("a revoked host's token is no longer recognised; want it known, so it is refused as revoked")
	}
	os.Remove(Path(dir, "lab7"))
	v.Refresh()
	if _, ok := v.TokenHost(tok); ok || v.State("lab7") != Unlisted {
		t.Fatal("a removed entry is still in the view")
	}
}

func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	mustAdd(t, dir, "lab7")
	tmp := filepath.Join(datadir.New(dir).Hosts(), ".lab7.json.tmp-123")
	os.WriteFile(tmp, []byte("{"), 0o600)
	_, probs, _ := List(dir)
	if len(probs) != 1 || probs[0].Host != "" {
		t.Fatalf("List problems %+v, want the temp file", probs)
	}
	if n, err := RemoveTemps(dir); n != 1 || err != nil {
		t.Fatalf("RemoveTemps = %d, %v", n, err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatal("temp file still there")
	}
}

// FuzzParseEntry: parseEntry never panics, and what it accepts survives a
// round trip through encode unchanged.
func FuzzParseEntry(f *testing.F) {
	e, _ := encode(Entry{Host: "lab7", AddedAt: At(t0), JoinSHA256: Sum("x"), JoinExpiresAt: At(t0)})
	f.Add(e)
	f.Add([]byte(`{"host":"lab7"}`))
	f.Add([]byte(`{"host":"lab7","revoked_at":"2026-11-22T14:03:04.123+02:00"}`))
	f.Add([]byte(`{"host":"lab7"}{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseEntry(b, "lab7")
		if err != nil {
			return
		}
		enc, err := encode(got)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseEntry(enc, "lab7")
		if err != nil {
			t.Fatalf("re-encoded entry does not parse: %v\n%s", err, enc)
		}
		enc2, _ := encode(again)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the entry:\n%s\n%s", enc, enc2)
		}
	})
}
