package queue

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cis490/internal/queuedir"
)

func TestQuarantineUnstamped(t *testing.T) {
	now := time.Now()
	setup := func(t *testing.T) queuedir.Layout {
		d := mustDirs(t)
		mustEpisode(t, d, "stamped", stamped, past)
		mustEpisode(t, d, "unstamped", `{"code_version":{}}`, past)
		mustEpisode(t, d, "short-commit", `{"code_version":{"commit":"abc"}}`, past)
		mustEpisode(t, d, "no-meta", "", past)
		mustEpisode(t, d, "writing", "", now) // no meta yet, still being written
		mustEpisode(t, d, "bad-json", `{"code_version":`, past)
		mustEpisode(t, d, "unreadable", "", past)
		// meta.json that cannot be read as a file (root reads any file).
		os.Mkdir(filepath.Join(d.Episodes, "unreadable", "meta.json"), 0o755)
		mustEpisode(t, d, ".staging", "", past)
		os.WriteFile(filepath.Join(d.Outbox, "unstamped.tar.zst"), []byte("x"), 0o644)
		return d
	}
	wantMoved := map[string]string{
		"unstamped":    ReasonUnstamped,
		"short-commit": ReasonUnstamped,
		"no-meta":      ReasonMissingMeta,
		"bad-json":     ReasonBadMeta,
		"unreadable":   ReasonBadMeta,
	}
	log := slog.New(slog.DiscardHandler)
	check := func(t *testing.T, rep UnstampedReport, dryRun bool) {
		t.Helper()
		if rep.Kept != 2 || rep.Quarantined != 5 || rep.DryRun != dryRun || len(rep.Moved) != 5 {
			t.Errorf("report = %+v", rep)
		}
		for _, m := range rep.Moved {
			if wantMoved[m.ID] != m.Reason {
				t.Errorf("moved %s for %s, want %q", m.ID, m.Reason, wantMoved[m.ID])
			}
		}
	}

	t.Run("dry run moves nothing", func(t *testing.T) {
		d := setup(t)
		rep, err := QuarantineUnstamped(d, true, now, 10*time.Second, log)
		if err != nil {
			t.Fatal(err)
		}
		check(t, rep, true)
		if got := names(t, d.Quarantine); got != "" {
			t.Errorf("quarantine = %s", got)
		}
	})
	t.Run("moves with reasons and is idempotent", func(t *testing.T) {
		d := setup(t)
		rep, err := QuarantineUnstamped(d, false, now, 10*time.Second, log)
		if err != nil {
			t.Fatal(err)
		}
		check(t, rep, false)
		if got, want := names(t, d.Episodes), ".staging,stamped,writing"; got != want {
			t.Errorf("episodes = %s, want %s", got, want)
		}
		for id, reason := range wantMoved {
			r := readReason(t, filepath.Join(d.Quarantine, id))
			if r.Status != 0 || r.Error != reason || r.Detail == "" || r.At == "" || r.Receiver != "" {
				t.Errorf("%s reason = %+v", id, r)
			}
		}
		if got := names(t, d.Outbox); got != "" {
			t.Errorf("outbox = %s, want the moved episode's tarball gone", got)
		}
		again, err := QuarantineUnstamped(d, false, now, 10*time.Second, log)
		if err != nil || again.Quarantined != 0 || again.Kept != 2 || len(again.Moved) != 0 {
			t.Errorf("second run = %+v, %v", again, err)
		}
	})
	t.Run("name collision takes a free name", func(t *testing.T) {
		d := mustDirs(t)
		mustEpisode(t, d, "ep-u", `{}`, past)
		os.MkdirAll(filepath.Join(d.Quarantine, "ep-u"), 0o755)
		os.MkdirAll(filepath.Join(d.Quarantine, "ep-u.1", "x"), 0o755)
		if _, err := QuarantineUnstamped(d, false, now, 0, log); err != nil {
			t.Fatal(err)
		}
		if got := names(t, d.Quarantine); got != "ep-u,ep-u.1,ep-u.2" {
			t.Errorf("quarantine = %s", got)
		}
		if r := readReason(t, filepath.Join(d.Quarantine, "ep-u.2")); r.Error != ReasonUnstamped {
			t.Errorf("reason = %+v", r)
		}
	})
}

func TestReadStatus(t *testing.T) {
	d := mustDirs(t)
	now := past.Add(100 * time.Second)
	mustEpisode(t, d, "a", stamped, past)
	mustEpisode(t, d, "b", "", past.Add(50*time.Second))
	mustEpisode(t, d, ".staging", "", past.Add(-time.Hour))
	// Still being written (no meta.json): pending, aged by its directory.
	writing := filepath.Join(d.Episodes, "c")
	os.MkdirAll(writing, 0o755)
	os.Chtimes(writing, past.Add(-20*time.Second), past.Add(-20*time.Second))
	os.WriteFile(filepath.Join(d.Outbox, "a.tar.zst"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(d.Outbox, "a.tar.zst.partial"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(d.Quarantine, "q1"), 0o755)
	os.MkdirAll(filepath.Join(d.Shipped, "s1"), 0o755)
	os.MkdirAll(filepath.Join(d.Shipped, "s2"), 0o755)
	got, err := ReadStatus(d, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Status{Pending: 3, OldestPendingAgeS: 120, Outbox: 1, Quarantined: 1, Shipped: 2}); got != want {
		t.Errorf("status = %+v, want %+v", got, want)
	}
	empty, err := ReadStatus(queuedir.New(filepath.Join(t.TempDir(), "none")), now)
	if err != nil || empty != (Status{}) {
		t.Errorf("missing data dir: %+v, %v", empty, err)
	}
}
