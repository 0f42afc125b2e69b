package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSecurityReportNeverHoldsTheToken runs the whole doctor against a
// receiver that refuses its token, with the token file readable by group
// (so the token check warns) and, in a second run, the token inline in the
// config: neither the human table nor the --json report (which
// ship-health sends to the receiver) holds the token.
func TestSecurityReportNeverHoldsTheToken(t *testing.T) {
	const token = "doctor-Tk7-wQ5zX8"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"unauthorized","detail":"unknown bearer token"}` + "\n"))
	}))
	defer srv.Close()
	for _, inline := range []bool{false, true} {
		s := newScratch(t)
		s.env.Ping, s.env.PingTimeout = pingReceiver, 5*time.Second
		s.cfg.Receiver.URL, s.cfg.Receiver.CABundle, s.cfg.Receiver.ClientCert, s.cfg.Receiver.ClientKey = srv.URL, "", "", ""
		if inline {
			s.cfg.Receiver.TokenFile, s.cfg.Receiver.Token = "", token
			s.write("etc/lab-host.toml", "[receiver]\ntoken = \""+token+"\"\n", 0o644)
		} else {
			s.write("etc/token", token+"\n", 0o640)
		}
		for _, args := range [][]string{{"--json"}, {}} {
			code, stdout, stderr := s.doctor(false, args...)
			if code != 2 || !strings.Contains(stdout, "401") {
				t.Errorf("inline=%v %v: exit %d, want 2 with the refusal shown:\n%s", inline, args, code, stdout)
			}
			if !strings.Contains(stdout, "chmod 600") {
				t.Errorf("inline=%v %v: no loose-mode warning:\n%s", inline, args, stdout)
			}
			for i := 0; i+8 <= len(token); i++ {
				if strings.Contains(stdout+stderr, token[i:i+8]) {
					t.Errorf("inline=%v %v: output holds part of the token:\n%s\n%s", inline, args, stdout, stderr)
					break
				}
			}
		}
	}
}
