package api

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cis490/internal/wire"
)

// A refused attempt records the host the credential proves, never the host
// claimed in X-Cis490-Host: lab1's token cannot write rows for lab3 and fake
// its alerts (SPEC §6).
func TestAttemptsRecordTheProvenHost(t *testing.T) {
	e := newEnv(t, nil)
	r := putReq("ep-1", []byte("x"))
	r.Header.Set("Authorization", "Bearer "+lab1Token)
	r.Header.Set(wire.HeaderHost, "lab3")
	r.Header.Del(wire.HeaderCommit) // what an "unstamped" alert counts
	if w := e.do(r); w.Code != 403 || decodeErr(t, w)["error"] != "host-mismatch" {
		t.Fatalf("another host's name with lab1's token = %d %s", w.Code, w.Body)
	}
	a := e.attempts()
	if len(a) != 1 || a[0].Host != "lab1" || a[0].Status != 403 {
		t.Errorf("attempts %+v, want one 403 row for lab1", a)
	}
	// The shared token proves no host: its rows keep the host as sent.
	r = putReq("ep-2", []byte("y"))
	r.Header.Set(wire.HeaderSHA256, "short")
	e.do(r)
	if a := e.attempts(); len(a) != 2 || a[1].Host != "lab2" {
		t.Errorf("attempts %+v, want the shared token's row as sent (lab2)", a)
	}
}

// A client certificate with an empty CN and no DNS SAN proves nothing: it
// is 403 host-mismatch for any X-Cis490-Host (SPEC §6), for episodes,
// pings and health reports alike.
func TestCertificateNamingNoHostIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	nameless := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{Organization: []string{"Lab"}}}
	for _, tc := range []struct {
		name string
		req  func() *http.Request
	}{
		{"episode", func() *http.Request { return putReq("ep-1", []byte("x")) }},
		{"ping", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, wire.PingPath, nil)
			r.Header.Set("Authorization", "Bearer "+sharedToken)
			r.Header.Set(wire.HeaderHost, "lab2")
			return r
		}},
		{"health", func() *http.Request { return healthPut("lab2", strings.NewReader(`{}`)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{nameless}}
			if w := e.do(r); w.Code != 403 || decodeErr(t, w)["error"] != "host-mismatch" {
				t.Errorf("= %d %s, want 403 host-mismatch", w.Code, w.Body)
			}
		})
	}
	e.assertNothingStored()
}
