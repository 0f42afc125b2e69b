package api

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cis490/internal/wire"
)

// dialRaw opens a connection to srv, closed when the test ends.
func dialRaw(t *testing.T, srv *httptest.Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntilClosed reads c until the server closes it or the deadline
// passes. A reset counts as closed: a server that closes a socket with
// unread request bytes in its buffer sends RST rather than FIN, and which of
// the two the client sees depends on how far the body had got. Only the
// deadline is an error.
func readUntilClosed(c net.Conn, d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	return b, err
}

// rawRequest sends text on a fresh connection to srv and returns the
// response read from it.
func rawRequest(t *testing.T, srv *httptest.Server, text string) (*http.Response, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, text); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp, c
}

// A PUT with neither Content-Length nor Transfer-Encoding is row 6 (411),
// not a stored empty episode (SPEC §4.2).
func TestPutWithoutLengthOrTransferEncodingIs411(t *testing.T) {
	e := newEnv(t, nil)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	resp, _ := rawRequest(t, srv, "PUT "+wire.EpisodeURLPath("ep-empty")+" HTTP/1.1\r\nHost: x\r\n"+
		"Authorization: Bearer "+sharedToken+"\r\n"+wire.HeaderHost+": lab2\r\n"+
		wire.HeaderSHA256+": "+sum(nil)+"\r\n"+wire.HeaderCommit+": "+goodCommit+"\r\n\r\n")
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusLengthRequired || !strings.Contains(string(b), `"length-required"`) {
		t.Errorf("answer %d %s, want 411 length-required", resp.StatusCode, b)
	}
	e.assertNothingStored()
}

// A HEAD of an id whose upload is in flight answers at once (404: not
// stored yet) instead of waiting for the upload's lock.
func TestHeadNeverWaitsBehindAnUploadInFlight(t *testing.T) {
	e := newEnv(t, nil)
	body := []byte("slow body")
	bb := &blockingBody{started: make(chan struct{}), release: make(chan struct{}), data: body}
	r1 := putReq("ep-a", body)
	r1.Body = io.NopCloser(bb)
	done := make(chan int)
	go func() { done <- e.do(r1).Code }()
	<-bb.started
	defer func() { close(bb.release); <-done }()

	head := httptest.NewRequest(http.MethodHead, wire.EpisodeURLPath("ep-a"), nil)
	head.Header.Set("Authorization", "Bearer "+sharedToken)
	got := make(chan int, 1)
	go func() { got <- e.do(head).Code }()
	select {
	case code := <-got:
		if code != http.StatusNotFound {
			t.Errorf("HEAD during the upload = %d, want 404", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("HEAD still waiting behind the upload in flight after 10 s")
	}
}

// A 500 says the receiver failed and nothing more: server paths and temp
// names go to the log only. 405 answers name the allowed methods, and every
// refusal's log line names the client's address (401s too).
func TestRefusalsKeepPathsOutAndSayEnough(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	// host-health/ is a file: storing a report fails inside the server.
	os.WriteFile(filepath.Join(e.dir, "host-health"), []byte("in the way"), 0o640)
	w := e.do(healthPut("lab2", strings.NewReader(`{"overall":"ok"}`)))
	if w.Code != 500 || strings.Contains(w.Body.String(), e.dir) || strings.Contains(w.Body.String(), "host-health") {
		t.Errorf("500 answer %d %s names server paths", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), e.dir) {
		t.Errorf("the log lacks the cause: %s", logs.String())
	}

	r := httptest.NewRequest(http.MethodDelete, wire.EpisodeURLPath("ep-1"), nil)
	if w := e.do(r); w.Code != 405 || w.Header().Get("Allow") != "HEAD, PUT" {
		t.Errorf("DELETE of an episode = %d, Allow %q; want 405 with Allow: HEAD, PUT", w.Code, w.Header().Get("Allow"))
	}

	logs.Reset()
	r = putReq("ep-1", []byte("x"))
	r.Header.Set("Authorization", "Bearer wrong")
	r.RemoteAddr = "192.0.2.7:40000"
	if w := e.do(r); w.Code != 401 {
		t.Fatalf("wrong token = %d", w.Code)
	}
	if !strings.Contains(logs.String(), "remote=192.0.2.7:40000") {
		t.Errorf("401 log line without the client address: %s", logs.String())
	}
}

// A shipper asks with HEAD before every upload; the 404 of an id not yet
// stored is an answer, not a refusal, and is not logged as one.
func TestHeadOfAnIDNotStoredIsNotARefusal(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	head := httptest.NewRequest(http.MethodHead, wire.EpisodeURLPath("ep-new"), nil)
	head.Header.Set("Authorization", "Bearer "+sharedToken)
	if w := e.do(head); w.Code != 404 {
		t.Fatalf("HEAD = %d, want 404", w.Code)
	}
	if strings.Contains(logs.String(), "refused") {
		t.Errorf("the HEAD before an upload is logged as a refusal: %s", logs.String())
	}
	r := putReq("ep-new", []byte("x"))
	r.Header.Set("Authorization", "Bearer wrong")
	e.do(r)
	if !strings.Contains(logs.String(), "msg=refused") {
		t.Errorf("a real refusal is not logged: %s", logs.String())
	}
}
