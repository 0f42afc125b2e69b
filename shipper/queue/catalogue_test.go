package queue

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"cis490/internal/queuedir"
	"cis490/internal/transport"
	"cis490/internal/wire"
)

// TestCatalogueRefusedEpisodeIsSentOnce: the replaced shipper counted a
// fatal answer but left the episode in episodes/, so every scan re-packed
// and re-sent it (about one PUT a second for hours). Every fatal answer
// must move it to quarantine and delete its tarball, so further passes
// send nothing.
func TestCatalogueRefusedEpisodeIsSentOnce(t *testing.T) {
	for _, status := range []int{400, 409, 412, 413} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			f := newFakeReceiver(t)
			q, _ := mustQueue(t, f)
			mustEpisode(t, q.Dirs, "ep-1", stamped, past)
			f.queue(answer{status: status, body: `{"error":"refused","detail":"no"}`})
			for i := 0; i < 4; i++ {
				if _, err := q.Pass(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := f.putOrder(); got != "ep-1" {
				t.Errorf("PUTs = %q over four passes, want one", got)
			}
			if !exists(filepath.Join(q.Dirs.Quarantine, "ep-1", queuedir.ReasonFile)) {
				t.Error("not quarantined with a reason")
			}
			if ents, _ := os.ReadDir(q.Dirs.Outbox); len(ents) != 0 {
				t.Errorf("outbox holds %d files", len(ents))
			}
		})
	}
}

// movingUploader moves another episode out of episodes/ (as
// quarantine-unstamped or an operator does beside a running daemon) when
// the first upload starts.
type movingUploader struct {
	Uploader
	d    queuedir.Layout
	move string
	t    *testing.T
}

func (m *movingUploader) Upload(ctx context.Context, ep transport.Episode) (wire.EpisodeReply, error) {
	if m.move != "" {
		if err := os.Rename(filepath.Join(m.d.Episodes, m.move), filepath.Join(m.d.Quarantine, m.move)); err != nil {
			m.t.Error(err)
		}
		m.move = ""
	}
	return m.Uploader.Upload(ctx, ep)
}

// TestCatalogueEpisodeMovedAwayDuringAPass: an episode that leaves
// episodes/ after the scan listed it is skipped without an error, a
// quarantine of its own, a PUT or an outbox file.
func TestCatalogueEpisodeMovedAwayDuringAPass(t *testing.T) {
	f := newFakeReceiver(t)
	q, logs := mustQueue(t, f)
	mustEpisode(t, q.Dirs, "ep-1", stamped, past)
	mustEpisode(t, q.Dirs, "ep-2", stamped, past.Add(1))
	q.Up = &movingUploader{Uploader: q.Up, d: q.Dirs, move: "ep-2", t: t}
	res, err := q.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Shipped != 1 || res.Pending != 0 || res.Transient != 0 || res.Quarantined != 0 {
		t.Errorf("result = %+v, want one shipped and nothing else", res)
	}
	if got := f.putOrder(); got != "ep-1" {
		t.Errorf("PUTs = %q", got)
	}
	if ents, _ := os.ReadDir(q.Dirs.Outbox); len(ents) != 0 {
		t.Errorf("outbox holds %d files", len(ents))
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("an error was logged:\n%s", logs)
	}
	if !exists(filepath.Join(q.Dirs.Quarantine, "ep-2", "meta.json")) || exists(filepath.Join(q.Dirs.Quarantine, "ep-2", queuedir.ReasonFile)) {
		t.Error("the moved episode was touched")
	}
}
