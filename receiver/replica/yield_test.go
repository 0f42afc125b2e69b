package replica

import (
	"sync/atomic"
	"testing"
	"time"

	"cis490/internal/index"
	"cis490/internal/s3/s3test"
)

func TestReplicationYieldsToUploads(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	client := srv.Bucket(bucket)
	clk := &clock{t: time.Now()}
	f := newFixture(t, clk.now)
	f.ingest("ep", 2, 1000)
	var uploading atomic.Int64
	uploading.Store(1)
	r := f.start(client, func(o *Options) {
		o.Uploading = uploading.Load
		o.YieldMax = time.Hour
		o.IndexEvery = time.Hour
	})
	if r.overdue(clk.now()) {
		t.Fatal("a fresh episode is overdue")
	}
	r.Stored(index.Row{}) // a wake while an upload streams starts nothing
	if st := r.Status(); st.Pending != 2 || st.Replicated != 0 {
		t.Fatalf("replicated during an upload: %+v", st)
	}
	uploading.Store(0)
	r.Stored(index.Row{}) // the upload was stored: replication resumes
	f.waitReplicated(2)

	// An episode that waited past YieldMax is copied even while uploads
	// keep streaming.
	uploading.Store(1)
	f.ingest("late", 1, 1000)
	clk.advance(2 * time.Hour)
	r.Stored(index.Row{})
	f.waitReplicated(1)
}
