package queuedir

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReasonRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := Reason{Status: 412, Error: "commit-not-in-window", Detail: "too old", Remediation: "rebase", At: "2026-01-02T03:04:05.006Z", Receiver: "https://pi"}
	if err := WriteReason(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReason(dir)
	if err != nil || got != want {
		t.Fatalf("ReadReason = %+v, %v; want %+v", got, err, want)
	}
	at, err := QuarantinedAt(dir)
	if err != nil || !at.Equal(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)) {
		t.Errorf("QuarantinedAt = %v, %v", at, err)
	}
}

func TestQuarantinedAtNeedsOnlyAt(t *testing.T) {
	dir := t.TempDir()
	// A reason written by hand with a wrong type elsewhere still dates the entry.
	os.WriteFile(filepath.Join(dir, ReasonFile), []byte(`{"status":"412","at":"2026-01-02T03:04:05.000Z"}`), 0o644)
	if _, err := QuarantinedAt(dir); err != nil {
		t.Errorf("QuarantinedAt: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ReasonFile), []byte(`{"at":"yesterday"}`), 0o644)
	if _, err := QuarantinedAt(dir); err == nil {
		t.Error("a malformed at was accepted")
	}
}

func TestLayout(t *testing.T) {
	l := New("/d")
	if l.Episodes != "/d/episodes" || l.Outbox != "/d/outbox" || l.Shipped != "/d/shipped" ||
		l.Quarantine != "/d/quarantine" || l.Lock() != "/d/.shipper.lock" || l.Tarball("e") != "/d/outbox/e.tar.zst" {
		t.Errorf("layout = %+v", l)
	}
}
