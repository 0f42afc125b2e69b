package transport

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cis490/internal/config"
)

// stallServer reads whatever the client sends and then never answers until
// the request goes away.
func stallServer(tb testing.TB) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func TestStalledBodyIsAbandoned(t *testing.T) {
	srv := stallServer(t)
	c := mustClient(t, config.ReceiverClient{URL: srv.URL})
	c.timeout = 100 * time.Millisecond
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		// Some bytes move, then the source stops: no byte moves any more.
		pw.Write([]byte("first bytes"))
	}()
	_, _, err := c.do(context.Background(), http.MethodPut, "/v1/episodes/ep-1.tar.zst", nil, pr, 1<<20, progressFuncs{})
	if !errors.Is(err, ErrStalled) || Classify(err) != Transient {
		t.Fatalf("err = %v, want ErrStalled", err)
	}
}

func TestUnansweredUploadIsAbandoned(t *testing.T) {
	srv := stallServer(t)
	path, sha := mustTarball(t, "all of it")
	c := mustClient(t, config.ReceiverClient{URL: srv.URL})
	c.timeout = 100 * time.Millisecond
	var until time.Time
	prog := progressFuncs{await: func(u time.Time) { until = u }}
	_, err := c.Upload(context.Background(), Episode{ID: "ep-1", Path: path, SHA256: sha, Size: 9, Progress: prog})
	if !errors.Is(err, ErrStalled) || Code(err) != "stalled" {
		t.Fatalf("err = %v, want ErrStalled", err)
	}
	if until.IsZero() {
		t.Error("Awaiting not called after the last byte")
	}
}

func TestCallerCancelIsNotAStall(t *testing.T) {
	srv := stallServer(t)
	path, sha := mustTarball(t, "x")
	c := mustClient(t, config.ReceiverClient{URL: srv.URL, TimeoutS: 3600})
	ctx, cancel := context.WithCancel(context.Background())
	prog := progressFuncs{await: func(time.Time) { cancel() }}
	_, err := c.Upload(ctx, Episode{ID: "ep-1", Path: path, SHA256: sha, Size: 1, Progress: prog})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrStalled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// slowReader yields one chunk each time the test's pacing channel allows.
type slowReader struct {
	chunks <-chan string
}

func (s *slowReader) Read(b []byte) (int, error) {
	c, ok := <-s.chunks
	if !ok {
		return 0, io.EOF
	}
	return copy(b, c), nil
}

func TestMovingUploadOutlivesTimeout(t *testing.T) {
	var got int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = len(b)
		writeJSON(w, 201, map[string]any{"status": "stored"})
	}))
	defer srv.Close()
	c := mustClient(t, config.ReceiverClient{URL: srv.URL})
	c.timeout = 300 * time.Millisecond
	chunks := make(chan string)
	// Ten chunks, one every 100 ms: the total (1 s) is well past the
	// timeout, every quiet stretch well under it.
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 10; i++ {
			<-tick.C
			chunks <- strings.Repeat("z", 100)
		}
		close(chunks)
	}()
	resp, _, err := c.do(context.Background(), http.MethodPut, "/v1/episodes/ep-1.tar.zst", nil, &slowReader{chunks}, 1000, progressFuncs{})
	if err != nil {
		t.Fatalf("moving upload failed: %v", err)
	}
	if resp.StatusCode != 201 || got != 1000 {
		t.Errorf("status %d, server got %d bytes", resp.StatusCode, got)
	}
}

func TestReceiverThatStopsReadingIsAbandoned(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Take one byte, then read no more: the socket buffers fill and
		// the client's writes stop moving.
		r.Body.Read(make([]byte, 1))
		<-release
	}))
	defer srv.Close()
	// The server notices a client hang-up only once the body is consumed,
	// so the handler is released by hand.
	defer close(release)
	path := filepath.Join(t.TempDir(), "big.tar.zst")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const size = 256 << 20 // sparse: far more than the socket buffers hold
	f.Truncate(size)
	f.Close()
	c := mustClient(t, config.ReceiverClient{URL: srv.URL})
	c.timeout = 200 * time.Millisecond
	var sent atomic.Int64
	prog := progressFuncs{moved: func(n int64) { sent.Store(n) }}
	_, err = c.Upload(context.Background(), Episode{ID: "ep-1", Path: path, SHA256: strings.Repeat("0", 64), Size: size, Progress: prog})
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("err = %v, want ErrStalled", err)
	}
	if n := sent.Load(); n == 0 || n >= size {
		t.Errorf("sent %d of %d bytes before the stall", n, size)
	}
}

// A cancelled upload can fail first on the body source the cancellation
// closed; it must still read as the cancellation (the daemon stops instead
// of logging a failed ship), and a watchdog stop as ErrStalled.
func TestNetErrorNamesTheCancellation(t *testing.T) {
	c := &Client{timeout: time.Minute}
	closedBody := &os.PathError{Op: "read", Path: "ep-1.tar.zst", Err: os.ErrClosed}
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	stalled, stall := context.WithCancelCause(context.Background())
	stall(ErrStalled)
	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		want     error
		wantNot  error
		keepsMsg bool
	}{
		{"caller cancelled, body closed first", cancelled, closedBody, context.Canceled, ErrStalled, true},
		{"caller cancelled, transport says so", cancelled, context.Canceled, context.Canceled, ErrStalled, false},
		{"watchdog", stalled, closedBody, ErrStalled, context.Canceled, false},
		{"no cancellation", live, closedBody, os.ErrClosed, context.Canceled, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.netError(tt.ctx, tt.err)
			if !errors.Is(got, tt.want) || errors.Is(got, tt.wantNot) {
				t.Fatalf("netError = %v, want %v and not %v", got, tt.want, tt.wantNot)
			}
			if tt.keepsMsg && !strings.Contains(got.Error(), "file already closed") {
				t.Errorf("netError = %v, lost the underlying error", got)
			}
		})
	}
}
