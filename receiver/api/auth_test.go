package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cis490/internal/config"
	"cis490/internal/wire"
)

func TestClientSubjectHeader(t *testing.T) {
	cases := []struct {
		name     string
		loopback bool
		subject  string
		host     string
		wantCode int
	}{
		{"loopback: missing header is 401", true, "", "lab1", 401},
		{"loopback: subject of the host", true, "CN=lab1,O=Lab", "lab1", 201},
		{"loopback: subject of another host", true, "CN=lab1,O=Lab", "lab2", 403},
		{"loopback: escaped comma in another RDN", true, `O=Lab\, Inc,CN=lab4`, "lab4", 201},
		{"loopback: subject without CN is 401", true, "O=Lab", "lab1", 401},
		{"other listener: forged header ignored", false, "CN=lab9", "lab2", 201},
		{"other listener: missing header fine", false, "", "lab2", 201},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			auth, err := LoadAuth(config.Auth{ClientSubjectHeader: "X-Client-Subject"}, tc.loopback, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.loopback && !strings.Contains(logs.String(), "client_subject_header ignored") {
				t.Errorf("no warning for the ignored header: %q", logs.String())
			}
			e := newEnv(t, func(o *Options) { o.Auth = auth })
			r := putReq("ep1", []byte("b"))
			r.Header.Set(wire.HeaderHost, tc.host)
			if tc.subject != "" {
				r.Header.Set("X-Client-Subject", tc.subject)
			}
			if w := e.do(r); w.Code != tc.wantCode {
				t.Errorf("status %d, want %d: %s", w.Code, tc.wantCode, w.Body)
			}
		})
	}
}

func TestTokenFilesWarnAndNeverLogTheToken(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose")
	os.WriteFile(loose, []byte("very-secret-value\n"), 0o644)
	var logs bytes.Buffer
	auth, err := LoadAuth(config.Auth{TokenFile: loose}, true, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "readable by group or other") {
		t.Errorf("no warning for mode 0644: %q", logs.String())
	}
	e := newEnv(t, func(o *Options) { o.Auth = auth; o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	r := putReq("ep1", []byte("b"))
	r.Header.Set("Authorization", "Bearer very-secret-value")
	if w := e.do(r); w.Code != 201 {
		t.Errorf("token from file refused: %d", w.Code)
	}
	r = putReq("ep2", []byte("b"))
	r.Header.Set("Authorization", "Bearer very-secret-valuX")
	e.do(r)
	if strings.Contains(logs.String(), "secret-valu") {
		t.Errorf("a token reached the log:\n%s", logs.String())
	}
	for _, bad := range []config.Auth{{TokenFile: filepath.Join(dir, "missing")}, {Hosts: map[string]string{"lab1": filepath.Join(dir, "missing")}}} {
		if _, err := LoadAuth(bad, true, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("LoadAuth(%+v) accepted a missing token file", bad)
		}
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := LoadAuth(config.Auth{TokenFile: empty}, true, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("an empty token file was accepted")
	}
}

func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
	}
	e := newEnv(t, func(o *Options) {
		o.GateStats = func() GateStats { return GateStats{Enabled: true, Source: "git-fallback", Commits: 3} }
	})
	e.do(putReq("ep1", []byte("x")))
	e.do(putReq("ep1", []byte("y")))
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("Authorization", "Bearer "+sharedToken)
	w := e.do(r)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(w.Body.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n---\n%s", err, out, w.Body)
	}
}

func FuzzSubjectCN(f *testing.F) {
	for _, s := range []string{"CN=lab1,O=Lab", `O=a\,b,CN=x`, "cn = y", "", `CN=\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cn := subjectCN(s)
		if len(cn) > len(s) {
			t.Errorf("CN %q longer than subject %q", cn, s)
		}
	})
}
