package main

import (
	"encoding/json"
	"testing"
	"time"

	"cis490/internal/wire"
	"cis490/shipper/update"
)

func updateChk(h *host) Check { return updateCheck{h} }

func TestUpdateCheck(t *testing.T) {
	ago := func(d time.Duration) string { return wire.FormatTime(now.Add(-d)) }
	fine := update.State{LastRunAt: ago(time.Hour), LastStatus: "current", LastSuccessAt: ago(time.Hour),
		Installed: "v2", ExpiresAt: wire.FormatTime(now.Add(60 * 24 * time.Hour))}
	tests := []struct {
		name         string
		state        *update.State
		edit         func(*update.State)
		systemctl    string
		disabled     bool
		status       Status
		summary, fix string
	}{
		{"recent successful run", &fine, nil, "", false, OK, "last run 1h0m0s ago: current, release v2, cis490-update.timer enabled", ""},
		{"no run yet", nil, nil, "", false, OK, "no update has run yet", ""},
		{"rolled back", &fine, func(s *update.State) {
			s.LastStatus, s.LastError = "rolled-back", "v3: cis490-shipper.service is not active"
		}, "", false, Fail, "rolled-back", "update --check"},
		{"refused manifest", &fine, func(s *update.State) { s.LastStatus, s.LastError = "refused", "bad release signature" }, "", false, Fail, "bad release signature", "journalctl -u cis490-update"},
		{"timer disabled", &fine, nil, `case "$2" in cis490-update.timer) echo disabled; exit 1;; esac; echo enabled`, false, Warn, "timer disabled", "enable --now cis490-update.timer"},
		{"no success for 3 days", &fine, func(s *update.State) { s.LastStatus, s.LastSuccessAt = "failed", ago(72*time.Hour) }, "", false, Warn, "over 2 days", ""},
		{"manifest expiring in 10 days", &fine, func(s *update.State) { s.ExpiresAt = wire.FormatTime(now.Add(10 * 24 * time.Hour)) }, "", false, Warn, "expires", ""},
		{"dirty checkout", &fine, func(s *update.State) { s.CodeStatus = "dirty" }, "", false, Warn, "checkout is dirty", "status"},
		{"updates off", &fine, nil, "", true, Skip, "enabled = false", ""},
		{"no systemctl: state still checked", &fine, func(s *update.State) { s.LastStatus = "refused" }, "-", false, Fail, "refused", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			if tt.state != nil {
				st := *tt.state
				if tt.edit != nil {
					tt.edit(&st)
				}
				b, _ := json.Marshal(st)
				s.write("update/state.json", string(b), 0o644)
			}
			switch tt.systemctl {
			case "":
			case "-":
				s.script("systemctl", "exit 127")
				s.write("bin/systemctl", "", 0o644)
			default:
				s.script("systemctl", tt.systemctl)
			}
			s.cfg.Update.Enabled = !tt.disabled
			wantResult(t, s.run(updateChk), tt.status, tt.summary, tt.fix)
		})
	}
}
