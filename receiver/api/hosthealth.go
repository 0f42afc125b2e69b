package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cis490/internal/atomicio"
	"cis490/internal/wire"
)

// maxHealthBytes bounds a host health report (SPEC §4.5).
const maxHealthBytes = 1 << 20

// HealthRecord is the stored form of a host health report.
type HealthRecord struct {
	Host       string          `json:"host"`
	ReceivedAt string          `json:"received_at"`
	Report     json.RawMessage `json:"report"`
}

// putHostHealth is PUT /v1/host-health/<host>. It is never gated: a sick
// host on stale code must still be able to say so.
func (h *Handler) putHostHealth(w http.ResponseWriter, r *http.Request) *wire.Error {
	who, e := h.o.Auth.Authenticate(r)
	if e != nil {
		h.m.unauthorized.Add(1)
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHealthBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return wire.Errorf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "a health report is limited to %d bytes", maxHealthBytes)
		}
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadJSON, "the report could not be read: %v", err)
	}
	trimmed := bytes.TrimSpace(body)
	var obj map[string]json.RawMessage
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &obj) != nil {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadJSON, "the report must be one JSON object")
	}
	rec, err := json.Marshal(HealthRecord{Host: host, ReceivedAt: wire.FormatTime(h.o.Now()), Report: trimmed})
	if err != nil {
		return internalError(err)
	}
	l := h.o.Store.Layout()
	if err := os.MkdirAll(l.HostHealth(), 0o750); err != nil {
		return internalError(err)
	}
	if err := atomicio.WriteFile(l.HostHealthFile(host), append(rec, '\n'), 0o640); err != nil {
		return internalError(err)
	}
	h.log.Info("host health stored", "host", host, "bytes", len(trimmed))
	writeJSON(w, http.StatusOK, map[string]string{"status": "stored"})
	return nil
}

// getHostHealth is GET /v1/host-health: every host's latest report.
func (h *Handler) getHostHealth(w http.ResponseWriter, r *http.Request) *wire.Error {
	if _, e := h.o.Auth.Authenticate(r); e != nil {
		h.m.unauthorized.Add(1)
		return e
	}
	hosts, err := ReadHostHealth(h.o.Store.Layout().HostHealth())
	if err != nil {
		return internalError(err)
	}
	type entry struct {
		ReceivedAt string          `json:"received_at"`
		Report     json.RawMessage `json:"report"`
	}
	out := map[string]entry{}
	for _, rec := range hosts {
		out[rec.Host] = entry{ReceivedAt: rec.ReceivedAt, Report: rec.Report}
	}
	writeJSON(w, http.StatusOK, map[string]any{"hosts": out})
	return nil
}

// ReadHostHealth reads every stored report in dir, sorted by host. Files
// that are not valid records (a temp file, say) are skipped.
func ReadHostHealth(dir string) ([]HealthRecord, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []HealthRecord
	for _, e := range entries {
		host, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !wire.ValidHost(host) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var rec HealthRecord
		if json.Unmarshal(b, &rec) != nil || rec.Host != host {
			continue
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}
