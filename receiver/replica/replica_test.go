package replica

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/index"
	"cis490/internal/s3"
	"cis490/internal/s3/s3test"
	"cis490/receiver/replicalog"
	"cis490/receiver/store"
)

const bucket = "cis490-test"

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// fixture is a data directory with a store, and a replicator for it.
type fixture struct {
	t      *testing.T
	dir    string
	st     *store.Store
	events chan Event
	now    func() time.Time
	mu     sync.Mutex
	bodies map[string][]byte
}

func newFixture(t *testing.T, now func() time.Time) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), events: make(chan Event, 10000), now: now, bodies: map[string][]byte{}}
	st, _, err := store.Open(f.dir, store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
	t.Cleanup(func() { st.Close() })
	return f
}

// ingest stores n random episodes of size bytes and returns their ids.
func (f *fixture) ingest(prefix string, n, size int) []string {
	f.t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		body := make([]byte, size)
		rand.Read(body)
		unlock, _ := f.st.LockID(context.Background(), id)
		_, err := f.st.Ingest(id, bytes.NewReader(body), int64(size), sum(body),
			store.Meta{Host: "lab1", Commit: strings.Repeat("a", 40)}, nil)
		unlock()
		if err != nil {
			f.t.Fatal(err)
		}
		f.mu.Lock()
		f.bodies[id] = body
		f.mu.Unlock()
		ids = append(ids, id)
	}
	return ids
}

// start runs a replicator for client until the test ends.
func (f *fixture) start(client *s3.Client, tweak func(*Options)) *Replicator {
	f.t.Helper()
	o := Options{DataDir: f.dir, Config: config.Replica{Concurrency: 2, Prefix: "lab/"}, Store: f.st, Client: client,
		Now: f.now, BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond, StallTimeout: 2 * time.Second,
		Event: func(e Event) { f.events <- e }}
	if tweak != nil {
		tweak(&o)
	}
	r, err := New(o)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	f.t.Cleanup(func() { cancel(); <-done; r.Close() })
	return r
}

// waitReplicated waits for the events of n replicated episodes and
// returns the failures seen meanwhile.
func (f *fixture) waitReplicated(n int) []Event {
	f.t.Helper()
	var failed []Event
	timeout := time.After(2 * time.Minute)
	for n > 0 {
		select {
		case e := <-f.events:
			switch e.Kind {
			case "replicated":
				n--
			case "failed":
				failed = append(failed, e)
			}
		case <-timeout:
			f.t.Fatalf("%d episodes still not replicated", n)
		}
	}
	return failed
}

// waitFailure waits for a failure event and returns it.
func (f *fixture) waitFailure() Event {
	f.t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case e := <-f.events:
			if e.Kind == "failed" {
				return e
			}
			if e.Kind == "replicated" {
				f.t.Fatalf("episode %s replicated; want a failure", e.ID)
			}
		case <-timeout:
			f.t.Fatal("no failure")
		}
	}
}

func replicaRows(t *testing.T, dir string) []replicalog.Row {
	t.Helper()
	var rows []replicalog.Row
	if err := replicalog.ReadFile(dir, func(r replicalog.Row) { rows = append(rows, r) }); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestReplicatesToVersitygw(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	client := srv.Bucket(bucket)
	f := newFixture(t, time.Now)
	ids := f.ingest("ep", 5, 100<<10)
	r := f.start(client, func(o *Options) { o.IndexEvery = time.Hour })
	f.waitReplicated(5)
	more := f.ingest("late", 3, 1000) // after the start: Stored must be heard
	r.Stored(index.Row{})
	f.waitReplicated(3)
	ids = append(ids, more...)

	ctx := context.Background()
	for _, id := range ids {
		o, found, err := client.Head(ctx, Key("lab/", id))
		if err != nil || !found {
			t.Fatalf("%s: found=%v err=%v", id, found, err)
		}
		if o.SHA256 != sum(f.bodies[id]) || o.Meta[MetaHost] != "lab1" || o.Meta[MetaCommit] != strings.Repeat("a", 40) || o.Meta[MetaReceivedAt] == "" {
			t.Errorf("%s: head = %+v", id, o)
		}
		rc, _, err := client.Get(ctx, Key("lab/", id))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(b, f.bodies[id]) {
			t.Errorf("%s: other bytes in the bucket", id)
		}
	}
	rows := replicaRows(t, f.dir)
	if len(rows) != len(ids) {
		t.Errorf("replica.jsonl has %d rows, want %d", len(rows), len(ids))
	}
	st := r.Status()
	if st.Pending != 0 || st.Replicated != len(ids) || st.PendingBytes != 0 {
		t.Errorf("status = %+v", st)
	}
}
