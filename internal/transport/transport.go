// Package transport is the lab host's HTTP client of the receiver (SPEC §4,
// §6): HTTPS with a CA bundle and mTLS, a bearer token, and timeouts that
// bound stalls rather than total time (SPEC §13), so a slow but moving 5 GB
// upload is never cut off. The shipper and the doctor share it.
package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"cis490/internal/buildinfo"
	"cis490/internal/config"
	"cis490/internal/wire"
)

// ErrCertsNotReady reports that a configured credential file (CA bundle,
// client certificate or key, token file) is missing or unreadable. It is
// transient: the client checks again on every request and recovers by itself
// when the files appear (first-boot bring-up).
var ErrCertsNotReady = errors.New("receiver credentials not ready")

// ErrStalled reports that no request byte moved for timeout_s, or that the
// answer did not come within its allowance after the last byte (SPEC §13).
var ErrStalled = errors.New("request stalled")

// maxReplyBytes bounds a reply body read into memory.
const maxReplyBytes = 1 << 20

// bytesPerGraceSecond is how many sent bytes earn one more second of waiting
// for the answer: the receiver fsyncs the whole body before it answers.
const bytesPerGraceSecond = 64 << 20

// Client talks to one receiver as one host. It is safe for concurrent use.
type Client struct {
	cfg     config.ReceiverClient
	host    string
	base    *url.URL
	tls     bool
	timeout time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	hc       *http.Client
	stamps   []fileStamp
	credsMsg string
}

// New returns a client for the receiver at cfg.URL sending as host. Only a
// malformed URL is an error; missing credential files surface per request as
// ErrCertsNotReady. A nil logger discards.
func New(cfg config.ReceiverClient, host string, log *slog.Logger) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("receiver url %q: %w", cfg.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("receiver url %q: want http:// or https://host[:port]", cfg.URL)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.Duration(cfg.TimeoutS) * time.Second
	if t <= 0 {
		t = 30 * time.Second
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{cfg: cfg, host: host, base: u, tls: u.Scheme == "https", timeout: t, log: log}, nil
}

// URL returns the receiver's base URL as configured.
func (c *Client) URL() string { return c.cfg.URL }

// Progress hears that work moves, for a watchdog; the shipper's daemon
// implements it and the queue hands it to the packer and to Upload. Moved
// reports n bytes done so far in the current step (body bytes sent, tree
// bytes packed), or 0 for a step completed; Awaiting reports that an
// upload's whole body is sent and waiting for the answer counts as progress
// until the given instant.
type Progress interface {
	Moved(n int64)
	Awaiting(until time.Time)
}

// Episode is one upload: the packed tarball at Path, sent as episode ID.
type Episode struct {
	ID     string
	Path   string
	SHA256 string
	Size   int64
	// Commit and SchemaVersion are sent as headers when not empty.
	Commit        string
	SchemaVersion string
	// Progress, if set, hears the body move.
	Progress Progress
}

// Upload PUTs the tarball of ep with its sha256 and size, streaming it with
// Content-Length and "Expect: 100-continue". A refusal is a *wire.Error.
func (c *Client) Upload(ctx context.Context, ep Episode) (wire.EpisodeReply, error) {
	var reply wire.EpisodeReply
	f, err := os.Open(ep.Path)
	if err != nil {
		return reply, fmt.Errorf("upload %s: %w", ep.ID, err)
	}
	defer f.Close()
	h := http.Header{}
	h.Set(wire.HeaderSHA256, ep.SHA256)
	h.Set("Content-Type", "application/zstd")
	h.Set("Expect", "100-continue")
	if ep.Commit != "" {
		h.Set(wire.HeaderCommit, ep.Commit)
	}
	if ep.SchemaVersion != "" {
		h.Set(wire.HeaderSchemaVersion, ep.SchemaVersion)
	}
	resp, body, err := c.do(ctx, http.MethodPut, wire.EpisodeURLPath(ep.ID), h, f, ep.Size, ep.Progress)
	if err != nil {
		return reply, fmt.Errorf("upload %s: %w", ep.ID, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return reply, fmt.Errorf("upload %s: %w", ep.ID, decodeError(resp, body))
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return reply, fmt.Errorf("upload %s: reply: %w", ep.ID, err)
	}
	if reply.Status == "" {
		reply.Status = "stored"
		if resp.StatusCode == http.StatusOK {
			reply.Status = "duplicate"
		}
	}
	return reply, nil
}

// Head asks whether episode id is stored, and with which sha256 and size.
func (c *Client) Head(ctx context.Context, id string) (sha string, size int64, found bool, err error) {
	resp, body, err := c.do(ctx, http.MethodHead, wire.EpisodeURLPath(id), nil, nil, 0, nil)
	if err != nil {
		return "", 0, false, fmt.Errorf("head %s: %w", id, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		sha, _ = wire.NormalizeSHA256(resp.Header.Get(wire.HeaderSHA256))
		return sha, resp.ContentLength, true, nil
	case http.StatusNotFound:
		return "", 0, false, nil
	}
	return "", 0, false, fmt.Errorf("head %s: %w", id, decodeError(resp, body))
}

// Ping POSTs /v1/ping, with the commit header when commit is not empty so the
// reply tells whether the gate would pass it.
func (c *Client) Ping(ctx context.Context, commit string) (wire.PingReply, error) {
	var reply wire.PingReply
	h := http.Header{}
	if commit != "" {
		h.Set(wire.HeaderCommit, commit)
	}
	resp, body, err := c.do(ctx, http.MethodPost, wire.PingPath, h, nil, 0, nil)
	if err != nil {
		return reply, fmt.Errorf("ping: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return reply, fmt.Errorf("ping: %w", decodeError(resp, body))
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return reply, fmt.Errorf("ping: reply: %w", err)
	}
	return reply, nil
}

// PutHealth stores a host-health report (one JSON object) for host.
func (c *Client) PutHealth(ctx context.Context, host string, report []byte) error {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	resp, body, err := c.do(ctx, http.MethodPut, wire.HostHealthPrefix+url.PathEscape(host), h,
		strings.NewReader(string(report)), int64(len(report)), nil)
	if err != nil {
		return fmt.Errorf("host health: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("host health: %w", decodeError(resp, body))
	}
	return nil
}

// do sends one request under the stall watchdog and returns the response with
// its body read (at most maxReplyBytes). prog, if not nil, hears the body
// move.
func (c *Client) do(ctx context.Context, method, path string, h http.Header, body io.Reader, size int64, prog Progress) (*http.Response, []byte, error) {
	return c.exchange(ctx, method, path, h, body, size, prog, nil)
}

// exchange is do; with sink set, a 2xx answer's body is copied to sink
// (unbounded, under the same stall watchdog) instead of being returned.
func (c *Client) exchange(ctx context.Context, method, path string, h http.Header, body io.Reader, size int64, prog Progress, sink io.Writer) (*http.Response, []byte, error) {
	hc, err := c.httpClient()
	if err != nil {
		return nil, nil, err
	}
	tok, err := c.token()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(c.timeout, cancel)
	defer wd.stop()

	if cl, ok := body.(io.Closer); ok {
		// http.Transport waits for the body writer before it reports a
		// cancellation; closing the source frees a writer blocked in Read.
		stopClose := context.AfterFunc(ctx, func() { cl.Close() })
		defer stopClose()
	}
	u := *c.base
	u.Path += path
	var rd io.Reader
	if body != nil {
		rd = &progressReader{r: body, size: size, onRead: func(sent int64, eof bool) {
			if eof {
				until := wd.finished(sent)
				if prog != nil {
					prog.Awaiting(until)
				}
				return
			}
			wd.moved()
			if prog != nil {
				prog.Moved(sent)
			}
		}}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set(wire.HeaderHost, c.host)
	req.Header.Set("User-Agent", "cis490-shipper/"+buildinfo.Version)
	if tok != "" {
		req.Header.Set(wire.HeaderAuthorization, "Bearer "+tok)
	}
	if body == nil || size == 0 {
		// Nothing to send: the whole exchange gets the answer allowance.
		wd.finished(0)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, c.netError(ctx, err)
	}
	defer resp.Body.Close()
	src := &progressReader{r: resp.Body, onRead: func(int64, bool) { wd.moved() }}
	if sink != nil && resp.StatusCode/100 == 2 {
		if sws, ok := sink.(sinkWithStatus); ok {
			*sws.status = resp.StatusCode
		}
		// Large answers (release artifacts) move in 256 KiB reads.
		if _, err := io.CopyBuffer(sink, src, make([]byte, 256<<10)); err != nil {
			return nil, nil, c.netError(ctx, err)
		}
		return resp, nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(src, maxReplyBytes))
	if err != nil {
		return nil, nil, c.netError(ctx, err)
	}
	return resp, b, nil
}

// netError names a watchdog cancellation ErrStalled; the caller's own
// cancellation stays context.Canceled.
func (c *Client) netError(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrStalled) {
		return fmt.Errorf("%w: no progress for %s", ErrStalled, c.timeout)
	}
	if cause != nil && !errors.Is(err, cause) {
		// Cancelling closes the body's source, and the transport may report
		// that ("file already closed") before the cancellation itself.
		return fmt.Errorf("%w (%v)", cause, err)
	}
	return err
}

// decodeError turns a refusal into a *wire.Error from its JSON body; a body
// that is not the receiver's (a proxy's page) keeps only the status.
func decodeError(resp *http.Response, body []byte) *wire.Error {
	e := &wire.Error{Status: resp.StatusCode}
	var m map[string]any
	if len(body) > 0 && json.Unmarshal(body, &m) == nil {
		e.Code, _ = m["error"].(string)
		e.Detail, _ = m["detail"].(string)
		delete(m, "error")
		delete(m, "detail")
		if len(m) > 0 {
			e.Extra = m
		}
	} else {
		e.Detail = strings.TrimSpace(string(body))
		if len(e.Detail) > 200 {
			e.Detail = e.Detail[:200]
		}
	}
	if e.Detail == "" {
		e.Detail = http.StatusText(resp.StatusCode)
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get(wire.HeaderRetryAfter), time.Now())
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// malformed.
func parseRetryAfter(v string, now time.Time) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		return max(n, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			// Round up without adding to d: a date centuries ahead makes
			// t.Sub saturate, and d + 999ms would overflow to negative.
			secs := d / time.Second
			if d%time.Second != 0 {
				secs++
			}
			return int(secs)
		}
	}
	return 0
}

// Get fetches path and returns its body, at most limit bytes (a longer body
// is an error). A refusal is a *wire.Error.
func (c *Client) Get(ctx context.Context, path string, limit int64) ([]byte, error) {
	var buf limitedBuffer
	buf.limit = limit
	resp, body, err := c.exchange(ctx, http.MethodGet, path, nil, nil, 0, nil, &buf)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("get %s: %w", path, decodeError(resp, body))
	}
	return buf.b, nil
}

// GetIfNoneMatch is Get with If-None-Match: etag; notModified is true (and
// body nil) when the receiver answers 304.
func (c *Client) GetIfNoneMatch(ctx context.Context, path, etag string, limit int64) (body []byte, notModified bool, err error) {
	var buf limitedBuffer
	buf.limit = limit
	var h http.Header
	if etag != "" {
		h = http.Header{"If-None-Match": {etag}}
	}
	resp, eb, err := c.exchange(ctx, http.MethodGet, path, h, nil, 0, nil, &buf)
	if err != nil {
		return nil, false, fmt.Errorf("get %s: %w", path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, true, nil
	case resp.StatusCode/100 != 2:
		return nil, false, fmt.Errorf("get %s: %w", path, decodeError(resp, eb))
	}
	return buf.b, false, nil
}

// Download copies path's body from byte offset on (a Range request when
// offset > 0) to w, streaming under the stall watchdog. A server that
// ignores the Range is an error, so w never receives bytes twice.
func (c *Client) Download(ctx context.Context, path string, offset int64, w io.Writer) error {
	var h http.Header
	if offset > 0 {
		h = http.Header{"Range": {"bytes=" + strconv.FormatInt(offset, 10) + "-"}}
	}
	var status int
	sink := writerFunc(func(p []byte) (int, error) {
		if offset > 0 && status != http.StatusPartialContent {
			return 0, fmt.Errorf("the receiver ignored the range request (status %d)", status)
		}
		return w.Write(p)
	})
	resp, body, err := c.exchange(ctx, http.MethodGet, path, h, nil, 0, nil, sinkWithStatus{&status, sink})
	if err != nil {
		return fmt.Errorf("download %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("download %s: %w", path, decodeError(resp, body))
	}
	return nil
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// sinkWithStatus lets exchange tell the sink the answer's status first.
type sinkWithStatus struct {
	status *int
	w      io.Writer
}

func (s sinkWithStatus) Write(p []byte) (int, error) { return s.w.Write(p) }

// limitedBuffer collects at most limit bytes.
type limitedBuffer struct {
	b     []byte
	limit int64
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if int64(len(l.b)+len(p)) > l.limit {
		return 0, fmt.Errorf("answer larger than %d bytes", l.limit)
	}
	l.b = append(l.b, p...)
	return len(p), nil
}

// Remediation returns the receiver's remediation text of a refusal, or "".
func Remediation(e *wire.Error) string {
	s, _ := e.Extra["remediation"].(string)
	return s
}
