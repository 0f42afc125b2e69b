package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cis490/internal/wire"
)

// TestCatalogueStaleHostStillReportsHealth: a host whose code the version
// gate refuses (or a receiver whose gate has no list) must still store its
// health report and answer its ping, or the sick host could not say it is
// sick. Episode PUTs from it are refused in the same setup, so the gate is
// really on.
func TestCatalogueStaleHostStillReportsHealth(t *testing.T) {
	for _, tc := range []struct {
		name string
		gate fakeGate
		want int // the episode PUT's answer
	}{
		{"commit outside the window", fakeGate{}, 412},
		{"gate without a list", fakeGate{unavailable: true}, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Gate = tc.gate })
			r := putReq("ep1", []byte("x"))
			r.Header.Set(wire.HeaderCommit, oldCommit)
			if tc.gate.unavailable {
				r.Header.Set(wire.HeaderCommit, goodCommit)
			}
			if w := e.do(r); w.Code != tc.want {
				t.Fatalf("episode PUT = %d, want %d (the gate is not on)", w.Code, tc.want)
			}
			h := httptest.NewRequest(http.MethodPut, wire.HostHealthPrefix+"lab1", strings.NewReader(`{"overall":"fail"}`))
			h.Header.Set("Authorization", "Bearer "+lab1Token)
			h.Header.Set(wire.HeaderCommit, oldCommit)
			if w := e.do(h); w.Code != 200 {
				t.Errorf("health report from the stale host = %d %s, want 200", w.Code, w.Body)
			}
			p := httptest.NewRequest(http.MethodPost, wire.PingPath, nil)
			p.Header.Set("Authorization", "Bearer "+lab1Token)
			p.Header.Set(wire.HeaderHost, "lab1")
			p.Header.Set(wire.HeaderCommit, oldCommit)
			if w := e.do(p); w.Code != 200 || !strings.Contains(w.Body.String(), `"gate":"`) {
				t.Errorf("ping from the stale host = %d %s, want 200 with the gate's verdict", w.Code, w.Body)
			}
		})
	}
}
