package replica

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"cis490/internal/s3"
	"cis490/internal/s3/s3test"
)

func TestFaultsAreRetriedAndNeverRecorded(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	srv.Bucket(bucket)
	tests := []struct {
		name     string
		fault    s3test.Fault
		wantKind string
	}{
		{"500s", s3test.InternalError, s3.KindServer},
		{"slow down", s3test.SlowDown, s3.KindThrottled},
		{"reset mid-body", s3test.ResetMidBody, s3.KindNetwork},
		{"wrong checksum answered", s3test.WrongChecksum, KindChecksum},
		{"hanging store", s3test.Hang, KindStall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Until the first episode is recorded, every PUT fails.
			var recorded []string
			proxy := s3test.NewProxy(t, srv.Endpoint(), s3test.PutsOnly(tt.fault, 3))
			cfg := srv.Config(bucket)
			cfg.Endpoint = proxy.URL
			client, err := s3.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, time.Now)
			ids := f.ingest(strings.ReplaceAll(tt.name, " ", "-"), 2, 300<<10)
			r := f.start(client, func(o *Options) {
				o.StallTimeout = 300 * time.Millisecond
				o.IndexEvery = time.Hour
				o.Config.Concurrency = 1
			})
			failed := f.waitReplicated(len(ids))
			if len(failed) < 3 {
				t.Fatalf("saw %d failures, want the 3 injected", len(failed))
			}
			for _, e := range failed {
				if got := kindOf(e.Err); got != tt.wantKind {
					t.Errorf("failure kind %q (%v), want %q", got, e.Err, tt.wantKind)
				}
			}
			for _, row := range replicaRows(t, f.dir) {
				recorded = append(recorded, row.ID)
				if row.SHA256 != sum(f.bodies[row.ID]) {
					t.Errorf("%s recorded with %s", row.ID, row.SHA256)
				}
			}
			if len(recorded) != len(ids) {
				t.Errorf("recorded %v, want each of %v once", recorded, ids)
			}
			st := r.Status()
			if st.LastError == nil || st.LastError.Kind != tt.wantKind {
				t.Errorf("status last_error = %+v", st.LastError)
			}
			var m bytes.Buffer
			r.WriteMetrics(&m)
			if !strings.Contains(m.String(), `cis490_replica_errors_total{kind="`+tt.wantKind+`"} `) {
				t.Errorf("metrics lack the error kind:\n%s", m.String())
			}
			if proxy.Injected(tt.fault) != 3 {
				t.Errorf("injected %d", proxy.Injected(tt.fault))
			}
		})
	}
}

func TestSlowDownRetryAfterIsHonoured(t *testing.T) {
	r := &Replicator{o: Options{BackoffMin: 10 * time.Millisecond, BackoffMax: time.Minute}}
	for i := 0; i < 100; i++ {
		if d := r.backoff(1, 7*time.Second); d < 7*time.Second {
			t.Fatalf("backoff %v is shorter than Retry-After", d)
		}
		if d := r.backoff(30, 0); d > time.Minute || d < 30*time.Second {
			t.Fatalf("backoff after 30 failures %v, want within [max/2, max]", d)
		}
		if d := r.backoff(1, time.Hour); d != time.Minute {
			t.Fatalf("Retry-After beyond the maximum gave %v", d)
		}
	}
	var se *s3.Error
	if errors.As(error(nil), &se) {
		t.Fatal("unreachable")
	}
}
