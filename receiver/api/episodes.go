package api

import (
	"errors"
	"net/http"
	"strconv"

	"cis490/internal/index"
	"cis490/internal/wire"
	"cis490/receiver/store"
)

// putEpisode is PUT /v1/episodes/<id>.tar.zst: the checks of SPEC §4.2 in
// table order, all answered before the body is read, then the streaming
// ingest.
func (h *Handler) putEpisode(w http.ResponseWriter, r *http.Request) *wire.Error {
	who, e := h.authenticate(r) // row 1
	if e != nil {
		return e
	}
	att := index.Attempt{
		Host:   truncate(who.provenHost(r.Header.Get(wire.HeaderHost)), 64),
		Commit: truncate(r.Header.Get(wire.HeaderCommit), 64),
		Agent:  agent(r),
	}
	name := r.PathValue("name")
	id, _ := wire.EpisodeFromPath(name)
	att.ID = truncate(id, 128)
	var received int64
	e = h.ingestEpisode(w, r, who, name, &received)
	att.Bytes = received
	if e != nil {
		att.Status, att.Error = e.Status, e.Code
		h.m.outcome(e.Status, e.Code)
		h.record(att)
		if e.Status == 0 {
			// Aborted: the client left or stalled. Close the connection without
			// an answer, which every client treats as a transient failure.
			panic(http.ErrAbortHandler)
		}
		return e
	}
	return nil
}

// ingestEpisode runs rows 2–14 and the ingest. On success it writes the 2xx
// answer itself, after recording the attempt.
func (h *Handler) ingestEpisode(w http.ResponseWriter, r *http.Request, who identity, name string, received *int64) *wire.Error {
	id, ok := wire.EpisodeFromPath(name)
	if !ok { // row 2
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadSuffix, "the path must end in %s", wire.EpisodeSuffix)
	}
	if !wire.ValidID(id) { // row 3
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadID, "%q is not a valid episode id", truncate(id, 128))
	}
	host, e := who.bindHost(r.Header.Get(wire.HeaderHost)) // row 4
	if e != nil {
		return e
	}
	sha, ok := wire.NormalizeSHA256(r.Header.Get(wire.HeaderSHA256)) // row 5
	if !ok {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadSHA256Header, "%s must be 64 hex digits", wire.HeaderSHA256)
	}
	schema, hasSchema := headerValue(r, wire.HeaderSchemaVersion)
	if hasSchema && !wire.ValidSchemaVersion(schema) {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadSchemaVersion, "%s must be 1 to 32 characters of [A-Za-z0-9._-]", wire.HeaderSchemaVersion)
	}
	// Row 6: a chunked body has ContentLength -1; a request with neither
	// Content-Length nor Transfer-Encoding has 0 and no header, and is no
	// more an empty episode than a chunked one is a sized one.
	if _, declared := r.Header["Content-Length"]; r.ContentLength < 0 || (r.ContentLength == 0 && !declared) {
		return wire.Errorf(http.StatusLengthRequired, wire.CodeLengthRequired, "uploads need a Content-Length (chunked bodies are refused)")
	}
	// Rows 7 and 8 answer from durable rows, which never change: a stored id
	// is answered at once, without waiting for the id's lock. Only an id not
	// yet stored takes the lock and looks again under it.
	stored, found, err := h.o.Store.Lookup(id)
	if err != nil {
		return internalError(err)
	}
	if !found {
		unlock, err := h.o.Store.LockID(r.Context(), id)
		if err != nil {
			return &wire.Error{Code: wire.CodeAborted, Detail: "the client went away while another upload of " + id + " ran"}
		}
		defer unlock()
		if stored, found, err = h.o.Store.Lookup(id); err != nil {
			return internalError(err)
		}
	}
	if found { // rows 7, 8
		if stored.SHA256 == sha {
			h.m.outcome(http.StatusOK, "duplicate")
			h.record(index.Attempt{Host: host, ID: id, Status: http.StatusOK, Commit: truncate(r.Header.Get(wire.HeaderCommit), 64), Agent: agent(r)})
			if r.ContentLength != 0 {
				h.closeUnreadBody(w) // the body is not read (see writeError)
			}
			writeJSON(w, http.StatusOK, wire.EpisodeReply{Status: "duplicate", ID: id, SHA256: sha, Bytes: stored.Bytes})
			return nil
		}
		e := wire.Errorf(http.StatusConflict, wire.CodeConflict, "%s is already stored with another sha256", id)
		e.Extra = map[string]any{"stored_sha256": stored.SHA256}
		return e
	}
	commitHeader, hasCommit := headerValue(r, wire.HeaderCommit)
	commit := ""
	if h.o.Gate != nil { // rows 9–11
		if e := h.o.Gate.Check(commitHeader, hasCommit); e != nil {
			return e
		}
	}
	if c, ok := wire.NormalizeCommit(commitHeader); ok {
		commit = c
	}
	if r.ContentLength > h.o.MaxBodyBytes { // row 12
		e := wire.Errorf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "%d bytes is above the limit of %d", r.ContentLength, h.o.MaxBodyBytes)
		e.Extra = map[string]any{"max_body_bytes": h.o.MaxBodyBytes}
		return e
	}
	free, err := h.o.FreeBytes() // row 13
	if err != nil {
		return internalError(err)
	}
	unreserve, ok := h.reserve.reserve(host, r.ContentLength, free, h.o.MinFreeBytes)
	if !ok {
		return wire.Errorf(http.StatusInsufficientStorage, wire.CodeInsufficientStorage, "storing %d bytes would leave less than %d bytes free", r.ContentLength, h.o.MinFreeBytes)
	}
	defer unreserve()
	body := h.guard(r, w)
	defer body.stop()
	release, ok := h.slots.acquire(host, func() { body.cut(errBodyPreempted) }) // row 14
	if !ok {
		e := wire.Errorf(http.StatusServiceUnavailable, wire.CodeBusy, "%d uploads are in flight; try again shortly", h.slots.cap)
		e.RetryAfter = 5
		return e
	}
	defer release()

	h.m.inFlight.Add(1)
	defer h.m.inFlight.Add(-1)
	row, err := h.o.Store.Ingest(id, body, r.ContentLength, sha, store.Meta{Host: host, Commit: commit, SchemaVersion: schema},
		func(n int64) { *received = n })
	if err != nil {
		var mm *store.MismatchError
		switch {
		case errors.As(err, &mm):
			e := wire.Errorf(http.StatusBadRequest, wire.CodeSHAMismatch, "the body hashes to %s, not to %s", mm.Computed, sha)
			e.Extra = map[string]any{"computed_sha256": mm.Computed}
			return e
		case errors.Is(err, store.ErrAborted):
			// The client is gone or too slow; the status is never seen but the
			// attempts row records 0 (SPEC §4.2).
			h.log.Info("upload aborted", "id", id, "host", host, "bytes", *received, "error", err)
			return &wire.Error{Status: 0, Code: wire.CodeAborted, Detail: "the body ended before Content-Length bytes"}
		default:
			h.log.Error("store failed", "id", id, "error", err)
			return internalError(err)
		}
	}
	h.m.storedBytes.Add(row.Bytes)
	h.m.outcome(http.StatusCreated, "stored")
	h.record(index.Attempt{Host: host, ID: id, Status: http.StatusCreated, Commit: truncate(commitHeader, 64), Bytes: row.Bytes, Agent: agent(r)})
	h.log.Info("stored", "id", id, "host", host, "bytes", row.Bytes, "commit", commit)
	writeJSON(w, http.StatusCreated, wire.EpisodeReply{Status: "stored", ID: id, SHA256: row.SHA256, Bytes: row.Bytes})
	return nil
}

// headEpisode is HEAD /v1/episodes/<id>.tar.zst (SPEC §4.3).
func (h *Handler) headEpisode(w http.ResponseWriter, r *http.Request) *wire.Error {
	if _, e := h.authenticate(r); e != nil {
		return e
	}
	id, ok := wire.EpisodeFromPath(r.PathValue("name"))
	if !ok {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadSuffix, "the path must end in %s", wire.EpisodeSuffix)
	}
	if !wire.ValidID(id) {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadID, "%q is not a valid episode id", truncate(id, 128))
	}
	// No lock: Lookup answers from durable rows only, so a HEAD never waits
	// behind an upload of the same id in flight (it is 404 until stored).
	stored, found, err := h.o.Store.Lookup(id)
	if err != nil {
		return internalError(err)
	}
	if !found {
		return wire.Errorf(http.StatusNotFound, wire.CodeNotFound, "%s is not stored", id)
	}
	w.Header().Set(wire.HeaderSHA256, stored.SHA256)
	w.Header().Set("Content-Length", strconv.FormatInt(stored.Bytes, 10))
	w.WriteHeader(http.StatusOK)
	return nil
}

// headerValue returns a header's first value and whether it was present at
// all (an empty header is present).
func headerValue(r *http.Request, name string) (string, bool) {
	v, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// guard wraps r's body in the limits every body obeys: the idle timeout
// and min_body_rate.
func (h *Handler) guard(r *http.Request, w http.ResponseWriter) *bodyGuard {
	return newBodyGuard(r.Body, w, guardOptions{idle: h.o.BodyIdleTimeout, rate: h.o.MinBodyRate,
		grace: h.o.RateGrace, win: h.o.RateWindow})
}
