package replica

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"cis490/internal/s3/s3test"
	"cis490/receiver/datadir"
	"cis490/receiver/store"
)

func TestDayObjectsVerifyAndRestore(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	client := srv.Bucket(bucket)
	f := newFixture(t, time.Now)
	ids := f.ingest("ep", 8, 3000)
	f.start(client, func(o *Options) { o.IndexEvery = time.Millisecond })
	f.waitReplicated(len(ids))
	ctx := context.Background()
	// The day object must come to hold exactly the index rows.
	idx, _ := os.ReadFile(datadir.New(f.dir).Index())
	day := time.Now().UTC().Format("2006-01-02")
	deadline := time.After(time.Minute)
	for {
		rc, _, err := client.Get(ctx, DayKey("lab/", day))
		if err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			if bytes.Equal(b, idx) {
				break
			}
		}
		select {
		case <-f.events:
		case <-deadline:
			t.Fatalf("day object never matched the index (last err %v)", err)
		}
	}

	rep, err := Verify(ctx, client, f.dir, "lab/", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checked != len(ids) || rep.Objects != len(ids)+1 {
		t.Fatalf("verify of a good bucket: %+v", rep)
	}

	// Restore into an empty data directory, then compare.
	dir2 := t.TempDir()
	st2, _, err := store.Open(dir2, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rrep, err := Restore(ctx, client, st2, "lab/", time.Now)
	st2.Close()
	if err != nil || rrep.Restored != len(ids) || len(rrep.Problems) != 0 {
		t.Fatalf("restore: %+v %v", rrep, err)
	}
	idx2, _ := os.ReadFile(datadir.New(dir2).Index())
	if !bytes.Equal(idx, idx2) {
		t.Errorf("restored index differs:\n%s\nwant:\n%s", idx2, idx)
	}
	for _, id := range ids {
		b, err := os.ReadFile(datadir.New(dir2).Stored(id))
		if err != nil || !bytes.Equal(b, f.bodies[id]) {
			t.Errorf("restored %s: %v", id, err)
		}
	}
	if p, err := store.Fsck(dir2, true); err != nil || len(p) != 0 {
		t.Errorf("fsck of the restored directory: %v %v", p, err)
	}

	// Delete one object and corrupt another behind the store's back.
	os.Remove(srv.ObjectPath(bucket, Key("lab/", ids[0])))
	os.WriteFile(srv.ObjectPath(bucket, Key("lab/", ids[1])), bytes.Repeat([]byte{7}, 3000), 0o644)
	rep, err = Verify(ctx, client, f.dir, "lab/", 2)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range rep.Problems {
		kinds = append(kinds, p.Kind+":"+p.ID)
	}
	if got, want := strings.Join(kinds, " "), "missing:"+ids[0]+" wrong-checksum:"+ids[1]; rep.OK || got != want {
		t.Errorf("verify found %q, want %q", got, want)
	}
}
