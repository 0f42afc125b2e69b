package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/queuedir"
	"cis490/internal/sdnotify"
	"cis490/internal/testutil"
	"cis490/internal/transport"
	"cis490/internal/wire"
	"cis490/shipper/queue"
)

// stepUploader is an Uploader whose upload moves only when the test says:
// each value on step is one chunk of body bytes moving; closing release
// lets the receiver answer 201.
type stepUploader struct {
	entered chan struct{}
	step    chan struct{}
	stepped chan struct{}
	release chan struct{}
}

func (u *stepUploader) URL() string { return "http://fake" }

func (u *stepUploader) Head(context.Context, string) (string, int64, bool, error) {
	return "", 0, false, nil
}

func (u *stepUploader) Upload(ctx context.Context, ep transport.Episode) (wire.EpisodeReply, error) {
	close(u.entered)
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return wire.EpisodeReply{}, ctx.Err()
		case <-u.step:
			// What transport.Client does as body bytes leave.
			sent += 64 << 10
			ep.Progress.Moved(sent)
			u.stepped <- struct{}{}
		case <-u.release:
			return wire.EpisodeReply{Status: "stored", ID: ep.ID, SHA256: ep.SHA256, Bytes: ep.Size}, nil
		}
	}
}

func TestDaemonNotifyAndWatchdog(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		name := map[bool]string{false: "path socket", true: "abstract socket"}[abstract]
		t.Run(name, func(t *testing.T) {
			sock := testutil.ListenNotify(t, abstract)
			dirs := queuedir.New(t.TempDir())
			if err := dirs.Ensure(); err != nil {
				t.Fatal(err)
			}
			mustEpisode(t, dirs.Episodes, "ep-1")
			up := &stepUploader{entered: make(chan struct{}), step: make(chan struct{}), stepped: make(chan struct{}), release: make(chan struct{})}
			cfg := config.DefaultLabHost("lab1").Shipper
			q := &queue.Queue{Dirs: dirs, Cfg: cfg, Up: up, Log: slog.New(slog.DiscardHandler)}
			env := map[string]string{"NOTIFY_SOCKET": sock.Name}
			d := newDaemon(q, sdnotify.New(func(k string) string { return env[k] }), slog.New(slog.NewTextHandler(tlogWriter{t}, nil)), 5*time.Second)
			q.Progress = d // as runDaemon wires it

			tick := make(chan time.Time)
			ticked := make(chan bool)
			d.watchdogEvery = 90 * time.Second
			d.newTicker = func(time.Duration) (<-chan time.Time, func()) { return tick, func() {} }
			d.after = func(time.Duration) <-chan time.Time { return nil } // idle until stopped
			d.onTick = func(p bool) { ticked <- p }
			tickOnce := func() bool { tick <- time.Time{}; return <-ticked }

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { d.run(ctx); close(done) }()

			if got := sock.Next(t); got != "READY=1" {
				t.Fatalf("first notification %q, want READY=1", got)
			}
			<-up.entered
			up.step <- struct{}{}
			<-up.stepped
			if !tickOnce() {
				t.Error("no WATCHDOG while upload bytes moved")
			}
			if got := sock.Next(t); got != "WATCHDOG=1" {
				t.Fatalf("got %q, want WATCHDOG=1", got)
			}
			// The upload stalls: no bytes move across several ticks.
			for i := 0; i < 3; i++ {
				if tickOnce() {
					t.Errorf("stall tick %d sent WATCHDOG", i)
				}
			}
			close(up.release)
			status := sock.Next(t) // the datagram after the first ping: no ping came during the stall
			if !strings.HasPrefix(status, "STATUS=pending 0, shipped 1") {
				t.Fatalf("got %q, want the STATUS after the pass", status)
			}
			if !tickOnce() {
				t.Error("no WATCHDOG while idle between passes")
			}
			if got := sock.Next(t); got != "WATCHDOG=1" {
				t.Fatalf("got %q, want WATCHDOG=1", got)
			}
			cancel()
			if got := sock.Next(t); got != "STOPPING=1" {
				t.Fatalf("got %q, want STOPPING=1", got)
			}
			<-done
			if !exists(filepath.Join(dirs.Shipped, "ep-1")) {
				t.Error("episode not retired")
			}
		})
	}
}

func TestWatchdogAnswerAllowance(t *testing.T) {
	q := &queue.Queue{}
	d := newDaemon(q, nil, slog.New(slog.DiscardHandler), time.Second)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	tick := make(chan time.Time)
	ticked := make(chan bool)
	d.onTick = func(p bool) { ticked <- p }
	done := make(chan struct{})
	go d.watchdog(tick, done)
	defer close(done)
	tickOnce := func() bool { tick <- now; return <-ticked }

	d.Awaiting(now.Add(94 * time.Second)) // 30 s + 64 s for 4 GiB sent
	if !tickOnce() {
		t.Error("no ping right after the last byte")
	}
	now = now.Add(90 * time.Second)
	if !tickOnce() {
		t.Error("no ping while the answer is within its allowance")
	}
	now = now.Add(5 * time.Second)
	if tickOnce() {
		t.Error("ping after the answer allowance ran out")
	}
}

// testCommit stamps test episodes.
const testCommit = "0123456789abcdef0123456789abcdef01234567"

// past is the mtime of every file of a test episode: long settled, and the
// same on every call so re-creating an episode reproduces its tarball.
var past = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustEpisode(tb testing.TB, episodes, id string) {
	tb.Helper()
	mustEpisodeMeta(tb, episodes, id, `{"code_version":{"commit":"`+testCommit+`"}}`)
}

// mustEpisodeMeta writes episodes/<id> with meta.json (none when meta is "")
// and one data file.
func mustEpisodeMeta(tb testing.TB, episodes, id, meta string) {
	tb.Helper()
	dir := filepath.Join(episodes, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	files := map[string]string{"data.bin": "payload of " + id}
	if meta != "" {
		files["meta.json"] = meta
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
		os.Chtimes(p, past, past)
	}
	os.Chtimes(dir, past, past)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// tlogWriter sends log lines to the test log.
type tlogWriter struct{ tb testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestDaemonStopMidUploadLeavesOnlyOutboxFiles(t *testing.T) {
	dirs := queuedir.New(t.TempDir())
	if err := dirs.Ensure(); err != nil {
		t.Fatal(err)
	}
	mustEpisode(t, dirs.Episodes, "ep-1")
	up := &stepUploader{entered: make(chan struct{}), release: make(chan struct{})}
	q := &queue.Queue{Dirs: dirs, Cfg: config.DefaultLabHost("lab1").Shipper, Up: up, Log: slog.New(slog.DiscardHandler)}
	d := newDaemon(q, nil, slog.New(slog.DiscardHandler), time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.run(ctx); close(done) }()
	<-up.entered
	cancel() // SIGTERM while the upload is in flight
	<-done
	if !exists(filepath.Join(dirs.Episodes, "ep-1")) {
		t.Error("episode left episodes/ without an answer")
	}
	for _, dir := range []string{dirs.Shipped, dirs.Quarantine} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s not empty", dir)
		}
	}
	if ents, _ := os.ReadDir(dirs.Outbox); len(ents) != 1 || ents[0].Name() != "ep-1.tar.zst" {
		t.Errorf("outbox = %v, want only the tarball", ents)
	}
}
