package replica

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"cis490/internal/index"
	"cis490/internal/s3/s3test"
	"cis490/internal/wire"
	"cis490/receiver/api"
	"cis490/receiver/store"
)

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestTieringRemovesOnlyConfirmedCopies(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	client := srv.Bucket(bucket)
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	f := newFixture(t, clk.now)
	old := f.ingest("old", 3, 5000)
	r := f.start(client, func(o *Options) {
		o.Config.LocalKeepDays = 2
		o.TierEvery = time.Hour
	})
	f.waitReplicated(3)
	// A late episode that the store refuses for good stays unconfirmed.
	late := f.ingest("late", 1, 5000)
	os.WriteFile(f.st.Path(late[0]), bytes.Repeat([]byte{1}, 5000), 0o640) // corrupt: the store answers BadDigest
	r.Stored(index.Row{})
	f.waitFailure()

	ctx := context.Background()
	clk.advance(24 * time.Hour)
	r.tier(ctx, clk.now())
	for _, id := range append(old, late...) {
		if _, err := os.Stat(f.st.Path(id)); err != nil {
			t.Fatalf("%s removed after one day: %v", id, err)
		}
	}
	clk.advance(2 * 24 * time.Hour)
	r.tier(ctx, clk.now())
	for _, id := range old {
		if _, err := os.Stat(f.st.Path(id)); !os.IsNotExist(err) {
			t.Errorf("%s still local after three days: %v", id, err)
		}
	}
	if _, err := os.Stat(f.st.Path(late[0])); err != nil {
		t.Errorf("the unconfirmed episode was removed: %v", err)
	}

	// HEAD and duplicate PUTs answer as before, from this store and from
	// one opened again.
	check := func(st *store.Store) {
		h := api.New(api.Options{Store: st, FreeBytes: func() (int64, error) { return 1 << 40, nil }})
		srv := httptest.NewServer(h)
		defer srv.Close()
		for _, id := range old {
			body := f.bodies[id]
			req, _ := http.NewRequest("HEAD", srv.URL+wire.EpisodesPrefix+id+wire.EpisodeSuffix, nil)
			req.Header.Set(wire.HeaderHost, "lab1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get(wire.HeaderSHA256) != sum(body) {
				t.Errorf("HEAD %s: %d sha %q", id, resp.StatusCode, resp.Header.Get(wire.HeaderSHA256))
			}
			req, _ = http.NewRequest("PUT", srv.URL+wire.EpisodesPrefix+id+wire.EpisodeSuffix, bytes.NewReader(body))
			req.Header.Set(wire.HeaderHost, "lab1")
			req.Header.Set(wire.HeaderSHA256, sum(body))
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("duplicate PUT %s: %d", id, resp.StatusCode)
			}
		}
		if _, err := os.Stat(f.st.Path(old[0])); !os.IsNotExist(err) {
			t.Errorf("a duplicate PUT brought the local copy back")
		}
	}
	check(f.st)
	os.WriteFile(f.st.Path(late[0]), f.bodies[late[0]], 0o640) // undo the corruption for fsck
	rep, err := store.FsckReport(f.dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 || rep.Replicated != len(old) {
		t.Errorf("fsck --verify: %+v", rep)
	}
	f.st.Close()
	st, _, err := store.Open(f.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
	check(st)
}
