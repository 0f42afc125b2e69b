package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/wire"
)

func certs(h *host) Check         { return certCheck{h} }
func token(h *host) Check         { return tokenCheck{h} }
func receiver(h *host) Check      { return receiverCheck{h} }
func queue(h *host) Check         { return queueCheck{h} }
func disk(h *host) Check          { return diskCheck{h} }
func service(h *host) Check       { return serviceCheck{h} }
func clock(h *host) Check         { return clockCheck{h} }
func shipperErrors(h *host) Check { return shipperErrorsCheck{h} }

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		err     error
		status  Status
		summary string
	}{
		{"loaded", "/etc/cis490/lab-host.toml", nil, OK, "host_id=lab1"},
		{"defaults", "", nil, Warn, "built-in defaults"},
		{"broken", "", &config.Error{File: "/x.toml", Line: 3, Col: 1, Key: "bogus", Msg: "unknown key"}, Fail, `/x.toml:3:1: key "bogus": unknown key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			h := s.host()
			h.cfgPath, h.cfgErr = tt.path, tt.err
			wantResult(t, configCheck{h}.Run(context.Background()), tt.status, tt.summary, "")
		})
	}
}

func TestCertCheck(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(s *scratch)
		status  Status
		summary string
	}{
		{"valid", func(*scratch) {}, OK, "key matches"},
		{"expires in 3 days", func(s *scratch) {
			ca := mustCert(t, "ca", now.Add(time.Hour*24*365), nil)
			leaf := mustCert(t, "lab1", now.Add(3*24*time.Hour), ca)
			s.write("etc/lab1.pem", string(leaf.CertPEM), 0o644)
			s.write("etc/lab1.key", string(leaf.KeyPEM), 0o600)
		}, Warn, "expires in 3 day(s)"},
		{"expired", func(s *scratch) {
			leaf := mustCert(t, "lab1", now.Add(-time.Minute), nil)
			s.write("etc/lab1.pem", string(leaf.CertPEM), 0o644)
			s.write("etc/lab1.key", string(leaf.KeyPEM), 0o600)
		}, Fail, "expired on"},
		{"expired CA", func(s *scratch) {
			s.write("etc/ca.pem", string(mustCert(t, "ca", now.Add(-time.Hour), nil).CertPEM), 0o644)
		}, Fail, "ca_bundle CN=ca expired"},
		{"key does not match", func(s *scratch) {
			other := mustCert(t, "lab1", now.Add(90*24*time.Hour), nil)
			s.write("etc/lab1.key", string(other.KeyPEM), 0o600)
		}, Fail, "does not match"},
		{"certificate for another host", func(s *scratch) {
			leaf := mustCert(t, "lab2", now.Add(90*24*time.Hour), nil)
			s.write("etc/lab1.pem", string(leaf.CertPEM), 0o644)
			s.write("etc/lab1.key", string(leaf.KeyPEM), 0o600)
		}, Fail, `names "lab2" but host_id is "lab1"`},
		{"missing client cert", func(s *scratch) { os.Remove(s.path("etc/lab1.pem")) }, Fail, "is missing"},
		{"CA bundle without certificates", func(s *scratch) { s.write("etc/ca.pem", "junk\n", 0o644) }, Fail, "no PEM certificate"},
		{"none configured", func(s *scratch) {
			s.cfg.Receiver.CABundle, s.cfg.Receiver.ClientCert, s.cfg.Receiver.ClientKey = "", "", ""
		}, Skip, "no ca_bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			tt.setup(s)
			wantResult(t, s.run(certs), tt.status, tt.summary, "")
		})
	}
}

func TestTokenCheck(t *testing.T) {
	tests := []struct {
		name         string
		setup        func(s *scratch)
		status       Status
		summary, fix string
	}{
		{"private file", func(*scratch) {}, OK, "mode 0600", ""},
		{"missing file", func(s *scratch) { os.Remove(s.path("etc/token")) }, Fail, "is missing", ""},
		{"group readable", func(s *scratch) { s.write("etc/token", "secret\n", 0o640) }, Warn, "readable by group or other (mode 0640)", "chmod 600"},
		{"world readable", func(s *scratch) { s.write("etc/token", "secret\n", 0o604) }, Warn, "mode 0604", "chmod 600"},
		{"empty", func(s *scratch) { s.write("etc/token", "\n", 0o600) }, Fail, "is empty", ""},
		{"none", func(s *scratch) { s.cfg.Receiver.TokenFile = "" }, Skip, "no token", ""},
		{"inline token in a loose config", func(s *scratch) {
			s.cfg.Receiver.TokenFile, s.cfg.Receiver.Token = "", "secret"
			s.write("etc/lab-host.toml", "", 0o644)
		}, Warn, "holds the inline token", "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			tt.setup(s)
			wantResult(t, s.run(token), tt.status, tt.summary, tt.fix)
		})
	}
}

func TestReceiverCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path != wire.PingPath || r.Method != http.MethodPost:
			w.WriteHeader(http.StatusNotFound)
		case r.Header.Get(wire.HeaderAuthorization) != "Bearer secret":
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "unauthorized", "detail": "unknown token"})
		default:
			json.NewEncoder(w).Encode(wire.PingReply{Status: "ok", Host: r.Header.Get(wire.HeaderHost), Version: "1.2.3"})
		}
	}))
	defer srv.Close()
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name, url, token string
		status           Status
		summary          string
	}{
		{"accepted", srv.URL, "secret", OK, "answers ping as host lab1 (receiver 1.2.3)"},
		{"wrong token", srv.URL, "wrong", Fail, "refused the token (401 unauthorized)"},
		{"unreachable", closedURL, "secret", Fail, "unreachable"},
		{"no answer within the bound", hung.URL, "secret", Fail, "did not answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			s.env.Ping = pingReceiver
			s.env.PingTimeout = 200 * time.Millisecond
			s.cfg.Receiver = config.ReceiverClient{URL: tt.url, Token: tt.token, TimeoutS: 30}
			wantResult(t, s.run(receiver), tt.status, tt.summary, "")
		})
	}
	t.Run("403 names the host", func(t *testing.T) {
		s := newScratch(t)
		s.env.Ping = func(context.Context, config.LabHost) (wire.PingReply, error) {
			return wire.PingReply{}, &wire.Error{Status: 403, Code: "host-mismatch", Detail: "token is for lab2"}
		}
		wantResult(t, s.run(receiver), Fail, "refused host lab1 (403 host-mismatch): token is for lab2", "")
	})
	t.Run("a revoked host is told to join again", func(t *testing.T) {
		s := newScratch(t)
		s.env.Ping = func(context.Context, config.LabHost) (wire.PingReply, error) {
			return wire.PingReply{}, &wire.Error{Status: 403, Code: wire.CodeHostRevoked, Detail: "revoked"}
		}
		wantResult(t, s.run(receiver), Fail, "revoked host lab1 (403 host-revoked)", "cis490-receiver host add lab1")
	})
}

func TestQueueCheck(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(s *scratch)
		status  Status
		summary string
	}{
		{"empty", func(*scratch) {}, OK, "0 pending, 0 being written, 0 in outbox, 0 quarantined in the last day"},
		{"counts", func(s *scratch) {
			s.write("data/episodes/ep-1/meta.json", "{}", 0o644)
			os.Chtimes(s.path("data/episodes/ep-1/meta.json"), now.Add(-10*time.Minute), now.Add(-10*time.Minute))
			s.write("data/episodes/ep-2/data.bin", "x", 0o644)
			s.write("data/episodes/.staging/meta.json", "{}", 0o644)
			s.write("data/outbox/ep-1.tar.zst", "x", 0o644)
			s.write("data/outbox/ep-9.tar.zst.partial", "x", 0o644)
			s.write("data/quarantine/ep-old/quarantine_reason.json", `{"at":"`+wire.FormatTime(now.Add(-48*time.Hour))+`"}`, 0o644)
		}, OK, "1 pending (oldest 10m), 1 being written, 1 in outbox, 0 quarantined in the last day"},
		{"recent quarantine warns", func(s *scratch) {
			s.write("data/quarantine/ep-3/quarantine_reason.json", `{"at":"`+wire.FormatTime(now.Add(-2*time.Hour))+`"}`, 0o644)
		}, Warn, "1 quarantined in the last day"},
		{"old pending warns", func(s *scratch) {
			s.write("data/episodes/ep-1/meta.json", "{}", 0o644)
			os.Chtimes(s.path("data/episodes/ep-1/meta.json"), now.Add(-3*time.Hour), now.Add(-3*time.Hour))
		}, Warn, "1 pending (oldest 3h)"},
		{"missing data dir", func(s *scratch) { s.cfg.Paths.DataDir = s.path("nope") }, Fail, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			tt.setup(s)
			wantResult(t, s.run(queue), tt.status, tt.summary, "")
		})
	}
}

func TestDiskCheck(t *testing.T) {
	tests := []struct {
		name    string
		free    uint64
		err     error
		status  Status
		summary string
	}{
		{"plenty", 100 << 30, nil, OK, "100.0 GiB free"},
		{"under min_free_bytes", 1 << 30, nil, Fail, "1.0 GiB free on"},
		{"missing data dir", 0, os.ErrNotExist, Skip, "does not exist"},
		{"statfs error", 0, errors.New("boom"), Fail, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			s.env.FreeBytes = func(string) (uint64, error) { return tt.free, tt.err }
			wantResult(t, s.run(disk), tt.status, tt.summary, "")
		})
	}
	t.Run("real statfs", func(t *testing.T) {
		free, err := statfsFree(t.TempDir())
		if err != nil || free == 0 {
			t.Errorf("statfsFree = %d, %v", free, err)
		}
	})
}

func TestServiceAndClock(t *testing.T) {
	noSystemdMsg := `echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2; exit 1`
	tests := []struct {
		name         string
		check        func(*host) Check
		cmd, body    string
		status       Status
		summary, fix string
	}{
		{"shipper active, timer enabled", service, "", "", OK, "cis490-shipper active, cis490-doctor-check.timer enabled", ""},
		{"shipper inactive", service, "systemctl", `case "$1" in is-active) echo inactive; exit 3;; is-enabled) echo enabled;; esac`, Fail, "cis490-shipper inactive", "enable --now cis490-shipper"},
		{"shipper failed", service, "systemctl", `case "$1" in is-active) echo failed; exit 3;; is-enabled) echo enabled;; esac`, Fail, "cis490-shipper failed", "restart"},
		{"timer disabled", service, "systemctl", `case "$1" in is-active) echo active;; is-enabled) echo disabled; exit 1;; esac`, Warn, "timer disabled", "enable --now cis490-doctor-check.timer"},
		{"timer not installed", service, "systemctl", `case "$1" in is-active) echo active;; is-enabled) echo "Failed to get unit file state" >&2; exit 1;; esac`, Warn, "timer not installed", ""},
		{"no systemd", service, "systemctl", noSystemdMsg, Skip, "systemd is not running", ""},
		{"no systemctl", service, "systemctl", "", Skip, "systemctl not found", ""},
		{"clock synchronised", clock, "", "", OK, "synchronised", ""},
		{"clock not synchronised", clock, "timedatectl", "echo no", Warn, "not synchronised", "set-ntp true"},
		{"clock not synchronised, no NTP service", clock, "timedatectl", `case "$3" in CanNTP) echo no;; *) echo no;; esac`, Warn, "no NTP service is installed", "install systemd-timesyncd (or chrony)"},
		{"clock not synchronised, NTP service off", clock, "timedatectl", `case "$3" in CanNTP) echo yes;; *) echo no;; esac`, Warn, "not synchronised", "sudo timedatectl set-ntp true"},
		{"no timedatectl", clock, "timedatectl", "", Skip, "timedatectl not found", ""},
		{"timedatectl without systemd", clock, "timedatectl", noSystemdMsg, Skip, "systemd is not running", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			switch {
			case tt.cmd != "" && tt.body == "":
				os.Remove(s.path("bin/" + tt.cmd))
			case tt.cmd != "":
				s.script(tt.cmd, tt.body)
			}
			wantResult(t, s.run(tt.check), tt.status, tt.summary, tt.fix)
		})
	}
}

func TestCommandTimeout(t *testing.T) {
	s := newScratch(t)
	s.script("timedatectl", "sleep 60")
	s.env.CmdTimeout = 100 * time.Millisecond
	wantResult(t, s.run(clock), Warn, "did not answer within 100ms", "")
}

func TestShipperErrorsCheck(t *testing.T) {
	const (
		rej412  = `level=ERROR msg="ship rejected" id=ep-1 status=412 error=commit-not-in-window`
		rej400  = `level=ERROR msg="ship rejected" id=ep-2 status=400 error=missing-commit`
		retry   = `level=WARN msg="ship failed, will retry" id=ep-3 status=503 error=gate-unavailable retry_in=40s`
		shipped = `level=INFO msg=shipped id=ep-0 status=201`
	)
	lines := func(ls ...string) string { return "cat <<'EOF'\n" + strings.Join(ls, "\n") + "\nEOF" }
	tests := []struct {
		name         string
		body         string
		status       Status
		summary, fix string
	}{
		{"clean", lines(shipped, shipped), OK, "no shipping errors in the last 10m (2 shipped)", ""},
		{"empty", "exit 0", OK, "no shipping errors", ""},
		{"no entries marker", "echo '-- No entries --'", OK, "no shipping errors", ""},
		{"412s", lines(rej412, shipped, rej412, "time=2026-11-23T14:29:00.000Z "+rej412), Fail,
			"3 ship(s) rejected as out-of-window in the last 10m", config.DefaultRemediation},
		{"412 with the receiver's remediation", lines(rej412 + ` remediation="cd /srv && make update\nsudo systemctl restart lab"`), Fail,
			"1 ship(s) rejected as out-of-window", "cd /srv && make update\nsudo systemctl restart lab"},
		{"400s", lines(rej400, rej400), Fail, "2 ship(s) rejected in the last 10m: 400 missing-commit ×2", config.DefaultRemediation},
		{"both 412 and 400: 412 leads", lines(rej400, rej412, rej400), Fail,
			"1 ship(s) rejected as out-of-window, 2 other rejection(s): 400 missing-commit ×2", config.DefaultRemediation},
		{"credentials", lines(`level=ERROR msg="ship refused: credentials" id=ep-4 status=401 error=unauthorized`), Fail, "refused for credentials", ""},
		{"transient", lines(retry, retry, shipped), Warn, "2 ship(s) failed and will be retried in the last 10m: 503 gate-unavailable ×2", ""},
		{"permission denied", `echo "No journal files were opened due to insufficient permissions." >&2; exit 1`, Skip,
			"join the systemd-journal (or adm) group", "usermod -aG systemd-journal cis490"},
		{"own messages only", `echo "Hint: You are currently not seeing messages from other users and the system." >&2`, Skip,
			"not readable by user cis490", "systemd-journal"},
		{"journalctl absent", "", Skip, "journalctl not found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			if tt.body == "" {
				os.Remove(s.path("bin/journalctl"))
			} else {
				s.script("journalctl", tt.body)
			}
			wantResult(t, s.run(shipperErrors), tt.status, tt.summary, tt.fix)
		})
	}
	t.Run("asks for the --since window", func(t *testing.T) {
		s := newScratch(t)
		s.script("journalctl", `printf '%s\n' "$@" > "`+s.path("args")+`"`)
		h := s.host()
		h.since = 2 * time.Hour
		shipperErrorsCheck{h}.Run(context.Background())
		b, _ := os.ReadFile(s.path("args"))
		if got, want := strings.Fields(string(b)), "-u cis490-shipper --since -7200s -o cat --no-pager"; strings.Join(got, " ") != want {
			t.Errorf("journalctl args = %q, want %q", got, want)
		}
	})
}

func TestReceiverCheckCredentialsNotReady(t *testing.T) {
	s := newScratch(t)
	s.env.Ping = pingReceiver
	s.cfg.Receiver.URL = "http://127.0.0.1:1"
	os.Remove(s.path("etc/token"))
	wantResult(t, s.run(receiver), Fail, "cannot ping http://127.0.0.1:1: ping: receiver credentials not ready", "")
}
