package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"cis490/internal/wire"
)

// metrics are the counters /metrics exposes.
type metrics struct {
	mu           sync.Mutex
	uploads      map[[2]string]uint64 // (status, outcome) -> count
	unauthorized atomic.Uint64
	storedBytes  atomic.Int64
	inFlight     atomic.Int64
	joins        map[[2]string]uint64 // (status, outcome) -> count
	renewals     map[[2]string]uint64
}

func (m *metrics) init() {
	m.uploads, m.joins, m.renewals = map[[2]string]uint64{}, map[[2]string]uint64{}, map[[2]string]uint64{}
}

// count adds one to a (status, outcome) counter of m.
func (m *metrics) count(c *map[[2]string]uint64, status int, code string) {
	m.mu.Lock()
	(*c)[[2]string{fmt.Sprint(status), code}]++
	m.mu.Unlock()
}

// outcome counts one episode PUT by status and outcome code.
func (m *metrics) outcome(status int, code string) {
	m.mu.Lock()
	m.uploads[[2]string{fmt.Sprint(status), code}]++
	m.mu.Unlock()
}

// metrics is GET /metrics: Prometheus text exposition 0.0.4.
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) *wire.Error {
	if _, e := h.authenticate(r); e != nil {
		return e
	}
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("cis490_uploads_total", "counter", "Episode PUTs by HTTP status and outcome (0 = aborted).")
	h.m.mu.Lock()
	keys := make([][2]string, 0, len(h.m.uploads))
	for k := range h.m.uploads {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(&b, "cis490_uploads_total{status=%q,outcome=%q} %d\n", k[0], k[1], h.m.uploads[k])
	}
	for _, c := range []struct {
		name, help string
		m          map[[2]string]uint64
	}{
		{"cis490_joins_total", "POST /v1/join by HTTP status and outcome (SPEC §14).", h.m.joins},
		{"cis490_cert_renewals_total", "POST /v1/certs/renew by HTTP status and outcome (SPEC §14).", h.m.renewals},
	} {
		metric(c.name, "counter", c.help)
		keys := make([][2]string, 0, len(c.m))
		for k := range c.m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
		for _, k := range keys {
			fmt.Fprintf(&b, "%s{status=%q,outcome=%q} %d\n", c.name, k[0], k[1], c.m[k])
		}
	}
	h.m.mu.Unlock()
	metric("cis490_unauthorized_total", "counter", "Requests refused with 401.")
	fmt.Fprintf(&b, "cis490_unauthorized_total %d\n", h.m.unauthorized.Load())
	metric("cis490_stored_bytes_total", "counter", "Bytes of episodes stored since start.")
	fmt.Fprintf(&b, "cis490_stored_bytes_total %d\n", h.m.storedBytes.Load())
	metric("cis490_uploads_in_flight", "gauge", "Episode uploads streaming now.")
	fmt.Fprintf(&b, "cis490_uploads_in_flight %d\n", h.m.inFlight.Load())
	if h.o.GateStats != nil {
		st := h.o.GateStats()
		metric("cis490_gate_enabled", "gauge", "1 when the version gate is on.")
		fmt.Fprintf(&b, "cis490_gate_enabled %d\n", b2i(st.Enabled))
		metric("cis490_gate_commits", "gauge", "Commits in the gate's window, by source of the last good refresh.")
		fmt.Fprintf(&b, "cis490_gate_commits{source=%q} %d\n", st.Source, st.Commits)
		metric("cis490_gate_refresh_age_seconds", "gauge", "Seconds since the gate's last good refresh (-1: never).")
		age := -1.0
		if !st.LastRefresh.IsZero() {
			age = h.o.Now().Sub(st.LastRefresh).Seconds()
		}
		fmt.Fprintf(&b, "cis490_gate_refresh_age_seconds %.3f\n", age)
	}
	if h.o.ExtraMetrics != nil {
		h.o.ExtraMetrics(&b)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// UploadsInFlight returns how many episode uploads are streaming now.
func (h *Handler) UploadsInFlight() int64 { return h.m.inFlight.Load() }
