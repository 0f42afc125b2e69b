package queue

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cis490/internal/queuedir"
	"cis490/internal/wire"
)

func TestRetention(t *testing.T) {
	f := newFakeReceiver(t)
	q, _ := mustQueue(t, f)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	q.Now = func() time.Time { return now }
	q.Cfg.QuarantineKeepDays = 30
	q.Cfg.ShippedKeepDays = 7
	q.Cfg.QuarantineCleanupIntervalS = 3600
	old := now.Add(-40 * day)
	young := now.Add(-2 * day)
	mkQ := func(name string, at time.Time) {
		dir := filepath.Join(q.Dirs.Quarantine, name)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, queuedir.ReasonFile), []byte(`{"status":412,"at":"`+wire.FormatTime(at)+`"}`), 0o644)
		// The directory's own mtime says young: "at" must win.
		os.Chtimes(dir, now, now)
	}
	mkS := func(name string, at time.Time) {
		dir := filepath.Join(q.Dirs.Shipped, name)
		os.MkdirAll(dir, 0o755)
		os.Chtimes(dir, at, at)
	}
	mkQ("q-old", old)
	mkQ("q-young", young)
	mkS("s-old", now.Add(-8*day))
	mkS("s-young", young)

	pass := func() {
		t.Helper()
		if _, err := q.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	if got := names(t, q.Dirs.Quarantine) + "|" + names(t, q.Dirs.Shipped); got != "q-young|s-young" {
		t.Fatalf("after first pass: %s", got)
	}

	t.Run("idle pass within the interval does not walk", func(t *testing.T) {
		mkQ("q-old2", old)
		mkS("s-old2", old)
		now = now.Add(59 * time.Minute)
		pass()
		if got := names(t, q.Dirs.Quarantine) + "|" + names(t, q.Dirs.Shipped); got != "q-old2,q-young|s-old2,s-young" {
			t.Errorf("got %s", got)
		}
	})
	t.Run("due after the interval", func(t *testing.T) {
		now = now.Add(time.Minute)
		pass()
		if got := names(t, q.Dirs.Quarantine) + "|" + names(t, q.Dirs.Shipped); got != "q-young|s-young" {
			t.Errorf("got %s", got)
		}
	})
	t.Run("zero keeps forever", func(t *testing.T) {
		q.Cfg.QuarantineKeepDays, q.Cfg.ShippedKeepDays = 0, 0
		mkQ("q-old3", old)
		now = now.Add(24 * time.Hour)
		pass()
		if !exists(filepath.Join(q.Dirs.Quarantine, "q-old3")) {
			t.Error("removed with keep_days = 0")
		}
	})
}

func TestShippedMtimeIsRetirementTime(t *testing.T) {
	f := newFakeReceiver(t)
	q, _ := mustQueue(t, f)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	q.Now = func() time.Time { return now }
	mustEpisode(t, q.Dirs, "ep-1", stamped, past)
	if _, err := q.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(q.Dirs.Shipped, "ep-1"))
	if err != nil || !fi.ModTime().Equal(now) {
		t.Errorf("shipped mtime = %v (%v), want %v", fi.ModTime(), err, now)
	}
}
