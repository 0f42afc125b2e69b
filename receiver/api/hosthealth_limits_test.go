package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"cis490/internal/wire"
)

func healthPut(host string, body io.Reader) *http.Request {
	r := httptest.NewRequest(http.MethodPut, wire.HostHealthPrefix+host, body)
	r.Header.Set("Authorization", "Bearer "+sharedToken)
	return r
}

// discardWriter is a ResponseWriter that keeps nothing of the body.
type discardWriter struct {
	h    http.Header
	code int
	n    int64
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

// GET /v1/host-health streams the stored reports: what it allocates does not
// follow their number or size (SPEC §4.5), and the answer is the same JSON.
func TestHostHealthGetStreams(t *testing.T) {
	e := newEnv(t, nil)
	const hosts = 24
	big := `{"pad":"` + strings.Repeat("x", 1<<20-16) + `"}`
	for i := range hosts {
		if w := e.do(healthPut(fmt.Sprintf("lab%02d", i), strings.NewReader(big))); w.Code != 200 {
			t.Fatalf("put: %d %s", w.Code, w.Body)
		}
	}
	get := httptest.NewRequest(http.MethodGet, wire.HostHealthPath, nil)
	get.Header.Set("Authorization", "Bearer "+sharedToken)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	dw := &discardWriter{h: http.Header{}}
	e.h.ServeHTTP(dw, get)
	runtime.ReadMemStats(&after)
	if dw.code != 200 || dw.n < hosts<<20 {
		t.Fatalf("GET = %d, %d bytes", dw.code, dw.n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("GET of %d reports of 1 MiB allocated %d MiB; want it independent of the reports (≤ 4 MiB)", hosts, alloc>>20)
	}

	// The streamed answer is the documented shape.
	e2 := newEnv(t, nil)
	for _, h := range []string{"lab2", "lab1", "lab3"} {
		if w := e2.do(healthPut(h, strings.NewReader(` {"overall":"ok","host":"`+h+`"} `))); w.Code != 200 {
			t.Fatalf("put: %d %s", w.Code, w.Body)
		}
	}
	os.WriteFile(filepath.Join(e2.dir, "host-health", "stray.json"), []byte("not a record"), 0o640)
	os.WriteFile(filepath.Join(e2.dir, "host-health", ".lab4.json.tmp-1"), []byte("{"), 0o640)
	w := e2.do(get)
	var got struct {
		Hosts map[string]struct {
			ReceivedAt string         `json:"received_at"`
			Report     map[string]any `json:"report"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET = %d %q: %v", w.Code, w.Body, err)
	}
	if len(got.Hosts) != 3 || got.Hosts["lab3"].Report["host"] != "lab3" || got.Hosts["lab1"].ReceivedAt == "" {
		t.Errorf("GET = %s", w.Body)
	}
}

// Host-health bodies share a cap like episode bodies (SPEC §4.5): with
// every health slot held by a stalled body, another host hears 503 busy.
func TestHostHealthBodiesAreCapped(t *testing.T) {
	e := newEnv(t, nil)
	var stalled []*blockingBody
	done := make(chan int, healthSlots)
	for i := range healthSlots {
		bb := &blockingBody{started: make(chan struct{}), release: make(chan struct{}), data: []byte(`{}`)}
		stalled = append(stalled, bb)
		r := healthPut(fmt.Sprintf("slow%d", i), nil)
		r.Body = io.NopCloser(bb)
		r.ContentLength = 2
		go func() { done <- e.do(r).Code }()
		<-bb.started
	}
	w := e.do(healthPut("lab2", strings.NewReader(`{"overall":"ok"}`)))
	if w.Code != 503 || decodeErr(t, w)["error"] != "busy" || w.Header().Get("Retry-After") == "" {
		t.Errorf("report beside %d stalled bodies = %d %s, want 503 busy", healthSlots, w.Code, w.Body)
	}
	for _, bb := range stalled {
		close(bb.release)
	}
	for range stalled {
		<-done
	}
	if w := e.do(healthPut("lab2", strings.NewReader(`{"overall":"ok"}`))); w.Code != 200 {
		t.Errorf("report once the slots are free = %d %s", w.Code, w.Body)
	}
}

// A health body that stalls is cut off after body_idle_timeout_s and its
// connection closed (SPEC §4.5); it used to be held as long as the client
// liked.
func TestHostHealthStalledBodyIsCutOff(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.BodyIdleTimeout = 300 * time.Millisecond })
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close) // after the connection is closed
	c := dialRaw(t, srv)
	fmt.Fprintf(c, "PUT %slab2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{\"a\":", wire.HostHealthPrefix, sharedToken)
	b, err := readUntilClosed(c, 10*time.Second)
	if err != nil {
		t.Fatalf("connection still open 10 s after the body stalled (read %q: %v)", b, err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "host-health", "lab2.json")); err == nil {
		t.Error("a cut-off report was stored")
	}
}

// Health reports obey min_free_bytes (507) and at most max_hosts report
// files exist (507 too-many-hosts); a host that has one may replace it.
func TestHostHealthSpaceAndHostLimits(t *testing.T) {
	t.Run("min_free_bytes", func(t *testing.T) {
		e := newEnv(t, nil)
		e.free = e.options.MinFreeBytes + 10
		w := e.do(healthPut("lab2", strings.NewReader(`{"overall":"ok"}`)))
		if w.Code != 507 || decodeErr(t, w)["error"] != "insufficient-storage" {
			t.Errorf("report on a full disk = %d %s, want 507", w.Code, w.Body)
		}
	})
	t.Run("max_hosts", func(t *testing.T) {
		e := newEnv(t, nil)
		dir := filepath.Join(e.dir, "host-health")
		os.MkdirAll(dir, 0o750)
		for i := range 1000 { // the default max_hosts
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("h%04d.json", i)), []byte(`{}`), 0o640)
		}
		w := e.do(healthPut("newhost", strings.NewReader(`{"overall":"ok"}`)))
		if w.Code != 507 || decodeErr(t, w)["error"] != "too-many-hosts" {
			t.Errorf("report of host 1001 = %d %s, want 507 too-many-hosts", w.Code, w.Body)
		}
		if w := e.do(healthPut("h0007", strings.NewReader(`{"overall":"ok"}`))); w.Code != 200 {
			t.Errorf("report of a known host = %d %s, want 200", w.Code, w.Body)
		}
		if n, _ := os.ReadDir(dir); len(n) != 1000 {
			t.Errorf("%d report files, want 1000", len(n))
		}
	})
}
