package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cis490/internal/wire"
)

// doAbortable runs a request whose handler may abort the connection (an
// upload cut off): the abort is reported as status 0.
func (e *env) doAbortable(r *http.Request) (code int) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			code = 0
		}
	}()
	return e.do(r).Code
}

// A host that declares a huge Content-Length and sends it slowly holds only
// its share of the free space: another host's upload is stored, while the
// hoarding host's own next upload is refused (SPEC §4.2).
func TestHugeDeclaredLengthHoldsNoOtherHostBack(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 8 << 20 })
	e.free = e.options.MinFreeBytes + 3<<20
	huge := bytes.Repeat([]byte("h"), 5<<19) // 2.5 MiB
	bb := &blockingBody{started: make(chan struct{}), release: make(chan struct{}), data: huge}
	r1 := putReq("hoard", huge)
	r1.Body = io.NopCloser(bb)
	done := make(chan int)
	go func() { done <- e.doAbortable(r1) }()
	<-bb.started
	defer func() { close(bb.release); <-done }()

	honest := bytes.Repeat([]byte("o"), 1<<20)
	r2 := putReq("honest", honest)
	r2.Header.Set(wire.HeaderHost, "lab3")
	if w := e.do(r2); w.Code != 201 {
		t.Errorf("another host's 1 MiB upload beside a 2.5 MiB reservation in 3 MiB = %d %s, want 201", w.Code, w.Body)
	}
	if w := e.do(putReq("hoard-2", honest)); w.Code != 507 {
		t.Errorf("the hoarding host's own second upload = %d %s, want 507", w.Code, w.Body)
	}
}

// A host that takes every upload slot gives one back when another host
// needs one: the other host's upload is stored at once instead of hearing
// 503 busy (SPEC §4.2). Two uploads of one id still store one file and row.
func TestSlotsAreSharedFairlyBetweenHosts(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConcurrentUploads = 4 })
	var held []*blockingBody
	done := make(chan int, 4)
	for i := range 4 {
		body := []byte(fmt.Sprintf("slow body %d", i))
		bb := &blockingBody{started: make(chan struct{}), release: make(chan struct{}), data: body}
		held = append(held, bb)
		r := putReq(fmt.Sprintf("slow-%d", i), body)
		r.Body = io.NopCloser(bb)
		go func() { done <- e.doAbortable(r) }()
		<-bb.started
	}
	r := putReq("fair", []byte("fair body"))
	r.Header.Set(wire.HeaderHost, "lab3")
	if w := e.do(r); w.Code != 201 {
		t.Errorf("another host's upload while one host holds every slot = %d %s, want 201", w.Code, w.Body)
	}
	for _, bb := range held {
		close(bb.release)
	}
	codes := map[int]int{}
	for range held {
		codes[<-done]++
	}
	if codes[0] != 1 || codes[201] != 3 {
		t.Errorf("the hoarding host's uploads ended %v, want one cut off (0) and three stored", codes)
	}
	// A host holding one slot is not made to give it to a host holding none.
	e2 := newEnv(t, func(o *Options) { o.MaxConcurrentUploads = 1 })
	bb := &blockingBody{started: make(chan struct{}), release: make(chan struct{}), data: []byte("x")}
	r1 := putReq("one", []byte("x"))
	r1.Body = io.NopCloser(bb)
	go func() { done <- e2.doAbortable(r1) }()
	<-bb.started
	r2 := putReq("two", []byte("y"))
	r2.Header.Set(wire.HeaderHost, "lab3")
	if w := e2.do(r2); w.Code != 503 {
		t.Errorf("with one slot held by one upload: %d, want 503 busy", w.Code)
	}
	close(bb.release)
	if c := <-done; c != 201 {
		t.Errorf("the upload holding the only slot ended %d, want 201", c)
	}
}

// A body that keeps trickling below min_body_rate is cut off once its
// grace has passed, even though it never stalls for body_idle_timeout_s,
// and the attempt is recorded as aborted (SPEC §4.2).
func TestBodySlowerThanMinBodyRateIsCutOff(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.MinBodyRate = 2000
		o.RateGrace, o.RateWindow = 200*time.Millisecond, 600*time.Millisecond
		o.BodyIdleTimeout = time.Minute
	})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	c := dialRaw(t, srv)
	body := bytes.Repeat([]byte("t"), 1000)
	fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s: lab2\r\n%s: %s\r\n%s: %s\r\nContent-Length: %d\r\n\r\n",
		wire.EpisodeURLPath("trickle"), sharedToken, wire.HeaderHost, wire.HeaderSHA256, sum(body), wire.HeaderCommit, goodCommit, len(body))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // 10 bytes/s, far below 2000
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(body); i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := c.Write(body[i : i+1]); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	if b, err := readUntilClosed(c, 15*time.Second); err != nil {
		t.Fatalf("a 10 B/s body is still read 15 s later (got %q: %v)", b, err)
	}
	e.assertNothingStored()
	a := e.attempts()
	if len(a) != 1 || a[0].Status != 0 || a[0].Error != "aborted" {
		t.Errorf("attempts %+v, want one aborted", a)
	}
}

// A request refused before its body, whose body never comes, is answered
// at once and its connection closed, authenticated or not (SPEC §4.2).
func TestRefusedBeforeBodyIsAnsweredAndClosed(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RefusedBodyWait = 300 * time.Millisecond })
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ name, auth string }{
		{"unauthenticated", "Bearer wrong"},
		{"authenticated, bad sha256 header", "Bearer " + sharedToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, srv)
			fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n%s: lab2\r\n%s: nothex\r\nContent-Length: 100\r\n\r\n",
				wire.EpisodeURLPath("ep"), tc.auth, wire.HeaderHost, wire.HeaderSHA256)
			b, err := readUntilClosed(c, 10*time.Second)
			if err != nil {
				t.Fatalf("no answer and no close within 10 s (read %q: %v)", b, err)
			}
			if !strings.HasPrefix(string(b), "HTTP/1.1 4") || !strings.Contains(string(b), `"error"`) {
				t.Errorf("answer %q", b)
			}
		})
	}
}
