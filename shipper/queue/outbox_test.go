package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSweepOutbox(t *testing.T) {
	f := newFakeReceiver(t)
	q, logs := mustQueue(t, f)
	mustEpisode(t, q.Dirs, "live", stamped, time.Now()) // not settled: stays
	for _, name := range []string{"orphan.tar.zst", "live.tar.zst", "live.tar.zst.partial", "other.tar.zst.partial"} {
		os.WriteFile(filepath.Join(q.Dirs.Outbox, name), []byte("x"), 0o644)
	}
	if _, err := q.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := names(t, q.Dirs.Outbox); got != "live.tar.zst" {
		t.Errorf("outbox = %q, want only live.tar.zst", got)
	}
	if !strings.Contains(logs.String(), "orphan.tar.zst") {
		t.Errorf("log:\n%s", logs)
	}
}
