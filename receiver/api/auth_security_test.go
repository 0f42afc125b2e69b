package api

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cis490/internal/config"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
)

// TestSecurityEveryEndpointNeedsAToken sends every authenticated route a
// missing, wrong or mangled token: each answers 401 in the JSON error shape,
// never echoes what was presented, and writes nothing.
func TestSecurityEveryEndpointNeedsAToken(t *testing.T) {
	routes := []struct{ method, path string }{
		{http.MethodPut, wire.EpisodeURLPath("ep1")},
		{http.MethodHead, wire.EpisodeURLPath("ep1")},
		{http.MethodPost, wire.PingPath},
		{http.MethodPut, wire.HostHealthPrefix + "lab2"},
		{http.MethodGet, wire.HostHealthPath},
		{http.MethodGet, wire.MetricsPath},
	}
	creds := []struct{ name, header string }{
		{"none", ""},
		{"empty bearer", "Bearer "},
		{"wrong token", "Bearer wrong-token-value"},
		{"right token, Basic scheme", "Basic " + sharedToken},
		{"right token without scheme", sharedToken},
		{"prefix of the token", "Bearer " + sharedToken[:len(sharedToken)-1]},
		{"token with a suffix", "Bearer " + sharedToken + "x"},
		{"token in upper case", "Bearer " + strings.ToUpper(sharedToken)},
		{"two tokens", "Bearer " + sharedToken + " " + sharedToken},
	}
	for _, rt := range routes {
		for _, c := range creds {
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				e := newEnv(t, nil)
				body := []byte(`{"overall":"ok"}`)
				r := putReq("ep1", body)
				r.Method, r.URL.Path = rt.method, rt.path
				r.Header.Del("Authorization")
				if c.header != "" {
					r.Header.Set("Authorization", c.header)
				}
				w := e.do(r)
				if w.Code != 401 {
					t.Fatalf("status %d, want 401: %s", w.Code, w.Body)
				}
				if rt.method != http.MethodHead {
					if m := decodeErr(t, w); m["error"] != "unauthorized" {
						t.Errorf("error = %v", m["error"])
					}
				}
				if tok := wire.BearerToken(c.header); tok != "" && strings.Contains(w.Body.String(), tok) {
					t.Errorf("the answer echoes the presented token: %s", w.Body)
				}
				e.assertNothingStored()
				if _, err := os.Stat(filepath.Join(e.dir, datadir.HostHealthDir, "lab2.json")); err == nil {
					t.Error("a health report was stored")
				}
				if att := e.attempts(); len(att) != 0 {
					t.Errorf("an unauthenticated request reached attempts.jsonl: %+v", att)
				}
			})
		}
	}
	t.Run("healthz needs none", func(t *testing.T) {
		e := newEnv(t, nil)
		if w := e.do(httptest.NewRequest(http.MethodGet, wire.HealthzPath, nil)); w.Code != 200 {
			t.Errorf("healthz = %d", w.Code)
		}
	})
}

// TestSecurityAnotherHostsToken checks a per-host token acts only as its
// host, on every route that names one; reads stay open to any valid token.
func TestSecurityAnotherHostsToken(t *testing.T) {
	cases := []struct {
		name   string
		method string
		path   string
		host   string // X-Cis490-Host
		want   int
	}{
		{"episode for another host", http.MethodPut, wire.EpisodeURLPath("ep1"), "lab2", 403},
		{"episode for its own host", http.MethodPut, wire.EpisodeURLPath("ep1"), "lab1", 201},
		{"ping as another host", http.MethodPost, wire.PingPath, "lab2", 403},
		{"ping as its own host", http.MethodPost, wire.PingPath, "lab1", 200},
		{"health report of another host", http.MethodPut, wire.HostHealthPrefix + "lab2", "", 403},
		{"health report of its own host", http.MethodPut, wire.HostHealthPrefix + "lab1", "", 200},
		{"read every report", http.MethodGet, wire.HostHealthPath, "", 200},
		{"read metrics", http.MethodGet, wire.MetricsPath, "", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			body := []byte(`{"overall":"ok"}`)
			r := putReq("ep1", body)
			r.Method, r.URL.Path = tc.method, tc.path
			r.Header.Set("Authorization", "Bearer "+lab1Token)
			r.Header.Set(wire.HeaderHost, tc.host)
			w := e.do(r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == 403 {
				if m := decodeErr(t, w); m["error"] != "host-mismatch" {
					t.Errorf("error = %v", m["error"])
				}
				e.assertNothingStored()
			}
		})
	}
}

// TestSecurityLooseTokenFileModes checks the start-up warning for every
// token file, shared or per host, that group or other may read, and its
// absence for private files; the warning names the file, never the token.
func TestSecurityLooseTokenFileModes(t *testing.T) {
	for _, perHost := range []bool{false, true} {
		for _, tc := range []struct {
			mode os.FileMode
			warn bool
		}{{0o600, false}, {0o400, false}, {0o640, true}, {0o604, true}, {0o644, true}, {0o660, true}} {
			t.Run(fmt.Sprintf("per-host=%v/%04o", perHost, tc.mode), func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "token")
				if err := os.WriteFile(p, []byte("mode-test-secret\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, tc.mode); err != nil {
					t.Fatal(err)
				}
				cfg := config.Auth{TokenFile: p}
				if perHost {
					cfg = config.Auth{Hosts: map[string]string{"lab1": p}}
				}
				var logs bytes.Buffer
				if _, err := LoadAuth(cfg, true, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
					t.Fatal(err)
				}
				warned := strings.Contains(logs.String(), "readable by group or other") && strings.Contains(logs.String(), p)
				if warned != tc.warn {
					t.Errorf("warned = %v, want %v: %q", warned, tc.warn, logs.String())
				}
				if strings.Contains(logs.String(), "mode-test-secret") {
					t.Errorf("the token reached the log: %q", logs.String())
				}
			})
		}
	}
}

// TestSecurityHostHealthBodyLimit checks the 1 MiB limit on health reports
// whether or not the client declares a length: a declared oversize is
// refused before the body is read, an undeclared one when it passes the
// limit, and a report of exactly 1 MiB is stored.
func TestSecurityHostHealthBodyLimit(t *testing.T) {
	object := func(n int) []byte { // a JSON object of exactly n bytes
		return []byte(`{"a":"` + strings.Repeat("x", n-8) + `"}`)
	}
	cases := []struct {
		name    string
		body    []byte
		chunked bool
		want    int
	}{
		{"exactly 1 MiB", object(1 << 20), false, 200},
		{"exactly 1 MiB, chunked", object(1 << 20), true, 200},
		{"1 MiB + 1", object(1<<20 + 1), false, 413},
		{"1 MiB + 1, chunked", object(1<<20 + 1), true, 413},
		{"64 MiB of whitespace, chunked", nil, true, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.body == nil {
				body = io.LimitReader(spaces{}, 64<<20)
			}
			guard := &countingReader{r: body}
			r := httptest.NewRequest(http.MethodPut, wire.HostHealthPrefix+"lab2", guard)
			r.Header.Set("Authorization", "Bearer "+sharedToken)
			r.ContentLength = int64(len(tc.body))
			if tc.chunked {
				r.ContentLength = -1
			}
			w := e.do(r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %.200s", w.Code, tc.want, w.Body)
			}
			_, err := os.Stat(filepath.Join(e.dir, datadir.HostHealthDir, "lab2.json"))
			if stored := err == nil; stored != (tc.want == 200) {
				t.Errorf("report stored = %v", stored)
			}
			if tc.want == 413 {
				if m := decodeErr(t, w); m["error"] != "too-large" {
					t.Errorf("error = %v", m["error"])
				}
				if !tc.chunked && guard.n != 0 {
					t.Errorf("read %d body bytes of a declared oversize", guard.n)
				}
				if guard.n > 1<<20+64<<10 {
					t.Errorf("read %d bytes, far past the limit", guard.n)
				}
			}
		})
	}
}

type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
