package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"sync"

	"cis490/internal/atomicio"
	"cis490/internal/cmdline"
	"cis490/internal/wire"
	"cis490/receiver/hosthealth"
)

// maxHealthBytes bounds a host health report (SPEC §4.5).
const maxHealthBytes = hosthealth.MaxReportBytes

// healthBufs holds the buffers health reports are read into: one record's
// prefix, a report of up to maxHealthBytes plus one byte to detect a longer
// one, and the closing brace and newline.
var healthBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 128+maxHealthBytes+1+2)
	return &b
}}

// putHostHealth is PUT /v1/host-health/<host>. It is never gated: a sick
// host on stale code must still be able to say so. Its body obeys the
// limits of episode bodies (SPEC §4.5): the idle timeout, min_body_rate,
// min_free_bytes and a cap on bodies read at once, shared fairly between
// hosts; at most max_hosts report files exist.
func (h *Handler) putHostHealth(w http.ResponseWriter, r *http.Request) *wire.Error {
	who, e := h.authenticate(r)
	if e != nil {
		return e
	}
	host := r.PathValue("host")
	if !wire.ValidHost(host) {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadHost, "%q is not a valid host id", truncate(host, 64))
	}
	if e := who.mayActAs(host); e != nil {
		return e
	}
	if r.ContentLength > maxHealthBytes {
		return wire.Errorf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "a health report is limited to %d bytes", maxHealthBytes)
	}
	path := h.o.Store.Layout().HostHealthFile(host)
	if e := h.roomForHost(path); e != nil {
		return e
	}
	free, err := h.o.FreeBytes()
	if err != nil {
		return internalError(err)
	}
	want := r.ContentLength
	if want < 0 {
		want = maxHealthBytes
	}
	unreserve, ok := h.reserve.reserve(host, want, free, h.o.MinFreeBytes)
	if !ok {
		return wire.Errorf(http.StatusInsufficientStorage, wire.CodeInsufficientStorage, "storing a %d-byte report would leave less than %d bytes free", want, h.o.MinFreeBytes)
	}
	defer unreserve()
	body := h.guard(r, w)
	defer body.stop()
	release, ok := h.hslots.acquire(host, func() { body.cut(errBodyPreempted) })
	if !ok {
		e := wire.Errorf(http.StatusServiceUnavailable, wire.CodeBusy, "%d health reports are being received; try again shortly", h.hslots.cap)
		e.RetryAfter = 5
		return e
	}
	defer release()

	bp := healthBufs.Get().(*[]byte)
	defer healthBufs.Put(bp)
	prefix := hosthealth.Head(host, h.o.Now())
	buf := append((*bp)[:0], prefix...)
	n, err := io.ReadFull(http.MaxBytesReader(w, body, maxHealthBytes), buf[len(buf):len(buf)+maxHealthBytes+1])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return wire.Errorf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "a health report is limited to %d bytes", maxHealthBytes)
		}
		// The client left or was too slow: no answer, like an episode body.
		h.log.Info("host health aborted", "host", host, "bytes", n, cmdline.ErrorKey, err)
		panic(http.ErrAbortHandler)
	}
	report := bytes.TrimSpace(buf[len(prefix) : len(prefix)+n])
	if len(report) == 0 || report[0] != '{' || !json.Valid(report) {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadJSON, "the report must be one JSON object")
	}
	rec := append(append(buf[:len(prefix)], report...), '}', '\n') // report moves left over its own bytes
	h.hostsMu.Lock()
	defer h.hostsMu.Unlock()
	if e := h.roomForHost(path); e != nil {
		return e
	}
	if err := os.MkdirAll(h.o.Store.Layout().HostHealth(), 0o750); err != nil {
		return internalError(err)
	}
	if err := atomicio.WriteFile(path, rec, 0o640); err != nil {
		return internalError(err)
	}
	h.log.Info("host health stored", "host", host, "bytes", len(report))
	writeJSON(w, http.StatusOK, map[string]string{"status": "stored"})
	return nil
}

// roomForHost refuses a report that would add a report file beyond
// max_hosts (507 too-many-hosts); a host that already has one may always
// replace it.
func (h *Handler) roomForHost(path string) *wire.Error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	n, err := countReports(h.o.Store.Layout().HostHealth())
	if err != nil {
		return internalError(err)
	}
	if n >= h.o.MaxHosts {
		e := wire.Errorf(http.StatusInsufficientStorage, wire.CodeTooManyHosts, "%d hosts already have a health report (max_hosts)", n)
		e.Extra = map[string]any{"max_hosts": h.o.MaxHosts}
		return e
	}
	return nil
}

// countReports returns how many host report files dir holds.
func countReports(dir string) (int, error) {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(256)
		for _, name := range names {
			if _, ok := hosthealth.HostOf(name); ok {
				n++
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// getHostHealth is GET /v1/host-health: every host's latest report. It
// streams the stored files one after the other (SPEC §4.5): memory does
// not grow with their number or size.
func (h *Handler) getHostHealth(w http.ResponseWriter, r *http.Request) *wire.Error {
	if _, e := h.authenticate(r); e != nil {
		return e
	}
	dir := h.o.Store.Layout().HostHealth()
	ents, err := os.ReadDir(dir) // sorted by name, so by host
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return internalError(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	sep := ""
	io.WriteString(w, `{"hosts":{`)
	for _, e := range ents {
		host, ok := hosthealth.HostOf(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue // temp files of a write in progress, strays
		}
		ok, err := streamRecord(w, dir+"/"+e.Name(), host, sep)
		if err != nil {
			// The status is sent: cut the answer off rather than end it as
			// if it were whole.
			h.log.Warn("host health read failed", "host", host, cmdline.ErrorKey, err)
			panic(http.ErrAbortHandler)
		}
		if ok {
			sep = ","
		}
	}
	io.WriteString(w, "}}\n")
	return nil
}

// streamRecord writes `<sep>"<host>":{"received_at":…,"report":…}` from the
// stored record at path. A file that is not a record of host (gone, torn,
// another shape) is skipped: ok is false.
func streamRecord(w io.Writer, path, host, sep string) (ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // replaced or removed since the listing
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	prefix := hosthealth.Prefix(host)
	head := make([]byte, len(prefix))
	var last [1]byte
	if st.Size() < int64(len(prefix))+2 {
		return false, nil
	}
	if _, err := f.ReadAt(head, 0); err != nil || string(head) != prefix {
		return false, nil
	}
	if _, err := f.ReadAt(last[:], st.Size()-1); err != nil || last[0] != '\n' {
		return false, nil
	}
	if _, err := fmt.Fprintf(w, `%s"%s":{`, sep, host); err != nil {
		return false, err
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, int64(len(prefix)), st.Size()-int64(len(prefix))-1)); err != nil {
		return false, err
	}
	return true, nil
}
