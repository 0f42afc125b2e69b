package main

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/testutil"
	"cis490/internal/wire"
)

// now is the scratch host's clock.
var now = time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)

// scratch is a fake lab host: a config, credential files, a data dir and a
// bin directory of fake external commands, all under one temp dir.
type scratch struct {
	t    *testing.T
	root string
	cfg  config.LabHost
	env  *Env
}

// newScratch returns a healthy host: valid certificates and token, an empty
// queue, plenty of disk, and systemctl, timedatectl and journalctl that
// answer "all is well".
func newScratch(t *testing.T) *scratch {
	t.Helper()
	root := t.TempDir()
	s := &scratch{t: t, root: root}
	s.cfg = config.DefaultLabHost("lab1")
	s.cfg.Paths.DataDir = s.path("data")
	s.cfg.Receiver.URL = "https://receiver.test:8443"
	s.cfg.Receiver.TokenFile = s.path("etc/token")
	s.cfg.Receiver.CABundle = s.path("etc/ca.pem")
	s.cfg.Receiver.ClientCert = s.path("etc/lab1.pem")
	s.cfg.Receiver.ClientKey = s.path("etc/lab1.key")
	for _, d := range []string{"data/episodes", "data/outbox", "data/shipped", "data/quarantine", "bin", "etc"} {
		if err := os.MkdirAll(s.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.write("etc/token", "secret\n", 0o600)
	ca := mustCert(t, "cis490 CA", now.Add(365*24*time.Hour), nil)
	s.write("etc/ca.pem", string(ca.CertPEM), 0o644)
	leaf := mustCert(t, "lab1", now.Add(90*24*time.Hour), ca)
	s.write("etc/lab1.pem", string(leaf.CertPEM), 0o644)
	s.write("etc/lab1.key", string(leaf.KeyPEM), 0o600)
	s.script("systemctl", `case "$1" in is-active) echo active;; is-enabled) echo enabled;; esac`)
	s.script("timedatectl", `echo yes`)
	s.script("journalctl", `echo 'level=INFO msg=shipped id=ep-0 status=201'`)

	s.env = &Env{
		Now:        func() time.Time { return now },
		PATH:       s.path("bin"),
		CmdTimeout: 5 * time.Second,
		User:       "cis490",
		LoadConfig: func(string) (config.LabHost, string, error) { return s.cfg, s.path("etc/lab-host.toml"), nil },
		Ping: func(context.Context, config.LabHost) (wire.PingReply, error) {
			return wire.PingReply{Status: "ok", Host: "lab1", Version: "1.0"}, nil
		},
		PingTimeout: 5 * time.Second,
		FreeBytes:   func(string) (uint64, error) { return 100 << 30, nil },
		UpdateState: s.path("update/state.json"),
	}
	return s
}

func (s *scratch) path(rel string) string { return filepath.Join(s.root, rel) }

func (s *scratch) write(rel, content string, mode os.FileMode) {
	s.t.Helper()
	p := s.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // WriteFile keeps an existing file's mode
		s.t.Fatal(err)
	}
}

// script installs a fake external command running body under /bin/sh.
func (s *scratch) script(name, body string) {
	s.write("bin/"+name, "#!/bin/sh\n"+body+"\n", 0o755)
}

// host returns the checks' view of the scratch host.
func (s *scratch) host() *host {
	return &host{env: s.env, cfg: s.cfg, cfgPath: s.path("etc/lab-host.toml"), since: 10 * time.Minute}
}

// run runs one check against the scratch host.
func (s *scratch) run(c func(*host) Check) Result {
	s.t.Helper()
	return c(s.host()).Run(context.Background())
}

// mustCert makes a certificate for cn valid from an hour before now until
// notAfter, signed by parent (self-signed CA when parent is nil).
func mustCert(tb testing.TB, cn string, notAfter time.Time, parent *testutil.CA) *testutil.CA {
	tb.Helper()
	c := testutil.Cert{CN: cn, NotBefore: now.Add(-time.Hour), NotAfter: notAfter,
		Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	if parent == nil {
		return testutil.NewCA(tb, c)
	}
	return &testutil.CA{Issued: parent.Issue(tb, c)}
}

// wantResult checks a Result's status and that its summary and fix hold the
// given fragments.
func wantResult(tb testing.TB, got Result, status Status, summary, fix string) {
	tb.Helper()
	if got.Status != status || !strings.Contains(got.Summary, summary) || !strings.Contains(got.Fix, fix) {
		tb.Errorf("got %s %q (fix %q); want %s with %q (fix containing %q)", got.Status, got.Summary, got.Fix, status, summary, fix)
	}
}
