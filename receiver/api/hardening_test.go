package api

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
