package replica

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"cis490/internal/index"
	"cis490/internal/s3"
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

func TestCopyInFlightGivesWayToAnUpload(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	srv.Bucket(bucket)
	started := make(chan struct{}, 10)
	first := true
	proxy := s3test.NewProxy(t, srv.Endpoint(), func(_ int, r *http.Request) s3test.Fault {
		if r.Method != http.MethodPut {
			return s3test.Pass
		}
		started <- struct{}{}
		if first {
			first = false
			return s3test.Hang // the copy stays in flight until abandoned
		}
		return s3test.Pass
	})
	cfg := srv.Config(bucket)
	cfg.Endpoint = proxy.URL
	client, err := s3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, time.Now)
	f.ingest("ep", 1, 1000)
	var uploading atomic.Int64
	r := f.start(client, func(o *Options) {
		o.Uploading = uploading.Load
		o.IndexEvery = time.Hour
		o.StallTimeout = time.Hour // only the upload can end the copy
	})
	<-started
	uploading.Store(1) // an upload into the receiver begins
	timeout := time.After(time.Minute)
	for yielded := false; !yielded; {
		select {
		case e := <-f.events:
			if e.Kind == "failed" || e.Kind == "replicated" {
				t.Fatalf("event %+v, want the copy to give way", e)
			}
			yielded = e.Kind == "yielded"
		case <-timeout:
			t.Fatal("the copy never gave way")
		}
	}
	if st := r.Status(); st.LastError != nil || st.Pending != 1 {
		t.Errorf("giving way counted as a failure: %+v", st)
	}
	uploading.Store(0)
	r.Stored(index.Row{})
	f.waitReplicated(1)
}
