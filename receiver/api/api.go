// Package api is the receiver's HTTP interface (SPEC §4): episode PUT and
// HEAD, ping, host health, healthz and metrics. Handlers return *wire.Error
// for refusals; one adapter writes the JSON body and the log line.
package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"cis490/internal/wire"
	"cis490/receiver/registry"
	"cis490/receiver/releases"
	"cis490/receiver/store"
)

// Gate decides whether an upload's commit may enter the dataset (SPEC §7).
type Gate interface {
	// Check returns nil when the commit passes (or the gate is off) and the
	// refusal to answer otherwise; it never waits on the network.
	Check(header string, present bool) *wire.Error
	// Verdict names the outcome for /v1/ping: pass, commit-not-in-window,
	// malformed-commit, gate-unavailable or disabled.
	Verdict(header string) string
}

// GateStats is what /metrics shows of the gate.
type GateStats struct {
	Enabled     bool
	Source      string
	Commits     int
	LastRefresh time.Time
}

// Options configure a Handler.
type Options struct {
	Store                *store.Store
	Gate                 Gate             // nil: gate off
	GateStats            func() GateStats // nil: no gate metrics
	Auth                 *Auth
	MaxBodyBytes         int64
	MinFreeBytes         int64
	MaxConcurrentUploads int
	BodyIdleTimeout      time.Duration
	Attempts             *AttemptsLog
	Version              string
	Logger               *slog.Logger
	Now                  func() time.Time
	// Releases serves the published releases (SPEC §15); nil: none.
	Releases *releases.Store
	// ReleaseKeyFile is served as /v1/releases/key.
	ReleaseKeyFile string
	// PKI is the fleet CA that signs joining hosts' certificates; nil: none
	// (SPEC §14).
	PKI *PKI
	// Registry is the host registry joins and renewals write; nil: joins
	// are refused.
	Registry *registry.View
	// RequireClientCert makes every route but /healthz, /v1/ca and
	// /v1/join refuse a TLS request without a client certificate (401):
	// the listener asks for one but lets joining hosts in without.
	RequireClientCert bool
	// Fleet builds the fleet view of GET /v1/fleet (SPEC §16); nil: 404.
	Fleet func() (any, error)
	// MinBodyRate is the slowest an episode or health body may arrive, in
	// bytes/s averaged over RateWindow once RateGrace has passed; 0: off.
	MinBodyRate int64
	// RateGrace and RateWindow default to 10 s and 30 s (SPEC §4.2); tests
	// shorten them.
	RateGrace, RateWindow time.Duration
	// RefusedBodyWait is how long the body of a request refused before its
	// body may take to arrive before the connection is closed; 0 means
	// 10 s (SPEC §4.2).
	RefusedBodyWait time.Duration
	// MaxHosts bounds the distinct host-health report files (SPEC §4.5);
	// 0 means the default, 1000.
	MaxHosts int
	// FreeBytes overrides the free-space probe (tests).
	FreeBytes func() (int64, error)
	// ExtraMetrics, if set, appends series to /metrics (the replicator's).
	ExtraMetrics func(io.Writer)
}

// healthSlots bounds the host-health bodies read at once: each may hold up
// to 1 MiB in memory. Reports come once a day per host; four at a time
// take a fleet of 1000 hosts' reports in seconds.
const healthSlots = 4

// Handler serves the API.
type Handler struct {
	o       Options
	log     *slog.Logger
	slots   *fairSlots   // episode bodies (max_concurrent_uploads)
	hslots  *fairSlots   // host-health bodies
	reserve reservations // bytes promised to bodies in flight
	// hostsMu serialises the creation of new host-health files, so at most
	// MaxHosts exist.
	hostsMu sync.Mutex
	m       metrics
	mux     *http.ServeMux
}

// New returns a Handler.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FreeBytes == nil {
		o.FreeBytes = o.Store.FreeBytes
	}
	if o.Auth == nil {
		o.Auth = &Auth{}
	}
	if o.MaxConcurrentUploads < 1 {
		o.MaxConcurrentUploads = 1
	}
	if o.RefusedBodyWait <= 0 {
		o.RefusedBodyWait = 10 * time.Second
	}
	if o.MaxHosts < 1 {
		o.MaxHosts = 1000
	}
	h := &Handler{o: o, log: o.Logger, slots: newFairSlots(o.MaxConcurrentUploads), hslots: newFairSlots(healthSlots)}
	h.m.init()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.HealthzPath, h.healthz)
	mux.Handle("GET "+wire.MetricsPath, h.wrap(h.metrics))
	mux.Handle("POST "+wire.PingPath, h.wrap(h.ping))
	mux.Handle("PUT "+wire.EpisodesPrefix+"{name...}", h.wrap(h.putEpisode))
	mux.Handle("HEAD "+wire.EpisodesPrefix+"{name...}", h.wrap(h.headEpisode))
	mux.Handle("PUT "+wire.HostHealthPrefix+"{host...}", h.wrap(h.putHostHealth))
	mux.Handle("GET "+wire.HostHealthPath, h.wrap(h.getHostHealth))
	mux.Handle("GET "+wire.FleetPath, h.wrap(h.getFleet))
	mux.Handle("GET "+wire.ReleaseCurrentPath, h.wrap(h.getReleaseManifest))
	mux.Handle("GET "+wire.ReleaseSigPath, h.wrap(h.getReleaseSig))
	mux.Handle("GET "+wire.ReleaseKeyPath, h.wrap(h.getReleaseKey))
	mux.Handle("GET "+wire.ReleaseFilesPrefix+"{file}", h.wrap(h.getReleaseFile))
	mux.Handle("GET "+wire.CAPath, h.wrap(h.getCA))
	mux.Handle("POST "+wire.JoinPath, h.wrap(h.join))
	mux.Handle("POST "+wire.RenewPath, h.wrap(h.renew))
	h.mux = mux
	return h
}

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The mux unescapes each path segment, so an encoded slash (%2F) ends up
	// inside the id, where the id rule refuses it; paths with ".." or "//"
	// never reach a handler: they are not found, not redirected.
	if !h.routes(r) {
		e, allow := h.notFound(r)
		if allow != "" {
			w.Header().Set("Allow", allow)
		}
		h.writeError(w, r, e)
		return
	}
	if e := h.requireClientCert(r); e != nil {
		h.m.unauthorized.Add(1)
		h.writeError(w, r, e)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// muxRedirect is the type of the handler ServeMux picks for a path not in
// canonical form ("//", "/./", "/../", a missing trailing slash): it would
// answer with a redirect (an HTML page for GET) instead of a JSON error.
var muxRedirect = reflect.TypeOf(http.RedirectHandler("/", http.StatusTemporaryRedirect))

// routes reports whether r reaches one of the API's handlers as sent.
func (h *Handler) routes(r *http.Request) bool {
	hh, pattern := h.mux.Handler(r)
	return pattern != "" && reflect.TypeOf(hh) != muxRedirect
}

// notFound is the answer for a request no handler takes: 405 with the
// methods of Allow when the path exists for other methods, else 404.
func (h *Handler) notFound(r *http.Request) (e *wire.Error, allow string) {
	var methods []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if h.routes(r2) {
			methods = append(methods, m)
		}
	}
	if len(methods) > 0 {
		return wire.Errorf(http.StatusMethodNotAllowed, wire.CodeMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path), strings.Join(methods, ", ")
	}
	return wire.Errorf(http.StatusNotFound, wire.CodeNotFound, "no such endpoint: %s", r.URL.Path), ""
}

// handlerFunc answers a request or returns the refusal to send.
type handlerFunc func(w http.ResponseWriter, r *http.Request) *wire.Error

func (h *Handler) wrap(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := f(w, r); e != nil {
			h.writeError(w, r, e)
		}
	})
}

// writeError is the one place refusals become responses and log lines.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, e *wire.Error) {
	if e.RetryAfter > 0 {
		w.Header().Set(wire.HeaderRetryAfter, strconv.Itoa(e.RetryAfter))
	}
	// A request refused before its body was read is answered at once and
	// its connection closed: otherwise net/http first reads up to 256 KiB of
	// the unread body, with no deadline, and a body that never comes holds
	// the answer and the connection forever (SPEC §4.2).
	if r.ContentLength != 0 {
		h.closeUnreadBody(w)
	}
	level := slog.LevelInfo
	switch {
	case e.Status >= 500:
		level = slog.LevelWarn
	case r.Method == http.MethodHead && e.Status == http.StatusNotFound:
		// A shipper asks before every upload whether the id is stored: a
		// 404 there is an answer, not a refusal.
		level = slog.LevelDebug
	}
	attrs := []any{"method", r.Method, "path", truncate(r.URL.Path, 200), "status", e.Status, "error", e.Code,
		"detail", e.Detail, "remote", r.RemoteAddr}
	if e.Cause != nil {
		attrs = append(attrs, "cause", e.Cause)
	}
	h.log.Log(r.Context(), level, "refused", attrs...)
	writeJSON(w, e.Status, e.Body())
}

// closeUnreadBody makes the answer to a request whose body was not read go
// out at once, and the connection close once the body has been read or
// RefusedBodyWait has passed without it (SPEC §4.2).
func (h *Handler) closeUnreadBody(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.o.RefusedBodyWait))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal","detail":"response encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (h *Handler) ping(w http.ResponseWriter, r *http.Request) *wire.Error {
	_, host, e := h.authenticateHost(r)
	if e != nil {
		return e
	}
	reply := wire.PingReply{Status: "ok", Host: host, Version: h.o.Version}
	if c, ok := r.Header[http.CanonicalHeaderKey(wire.HeaderCommit)]; ok && len(c) > 0 {
		if h.o.Gate == nil {
			reply.Gate = "disabled"
		} else {
			reply.Gate = h.o.Gate.Verdict(c[0])
		}
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// internalError is a 500 whose cause goes to the log only: the answer says
// nothing of server paths or temp files.
func internalError(err error) *wire.Error {
	e := wire.Errorf(http.StatusInternalServerError, wire.CodeInternal, "the receiver failed to handle the request; its log says why")
	e.Cause = err
	return e
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
