package fleetview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/receiver/datadir"
	"cis490/receiver/registry"
)

var now = time.Date(2026, 12, 4, 12, 30, 0, 0, time.UTC)

func ts(d time.Duration) string { return now.Add(-d).Format("2006-01-02T15:04:05.000Z") }

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
}

// syntheticFleet builds a data directory where each host is known from a
// different source:
//
//	reg1  registry, joined, certificate until 2027-03-01, active
//	rev1  registry, revoked
//	cfg1  [auth.hosts] only, a failing last attempt and an alert
//	exp1  expected_hosts only, silent (nothing on disk)
//	act1  activity only: episodes and attempts, a health report
//	old1  activity older than the window: not listed
func syntheticFleet(t *testing.T) (config.Receiver, string) {
	t.Helper()
	dir := t.TempDir()
	l := datadir.New(dir)
	if _, err := registry.Update(dir, "reg1", func(e *registry.Entry, _ bool) error {
		e.AddedAt, e.JoinedAt = registry.At(now.Add(-72*time.Hour)), registry.At(now.Add(-71*time.Hour))
		e.CertNotAfter = registry.At(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Revoke(dir, "rev1", now.Add(-time.Hour), true); err != nil {
		t.Fatal(err)
	}
	row := func(id, host string, ago time.Duration, n int) string {
		return fmt.Sprintf(`{"id":%q,"host":%q,"sha256":"%064d","bytes":%d,"received_at":%q,"source":"receiver"}`, id, host, 0, n, ts(ago))
	}
	appendLines(t, l.Index(),
		row("e-old", "old1", 30*time.Hour, 1),
		row("e1", "act1", 25*time.Hour, 1000), // in the active window, outside 24 h
		row("e2", "act1", 3*time.Hour, 200),
		row("e3", "reg1", 2*time.Hour, 50),
		row("e4", "act1", 90*time.Minute, 300),
	)
	att := func(host string, ago time.Duration, status int, errCode, agent string) string {
		return fmt.Sprintf(`{"ts":%q,"host":%q,"id":"x","status":%d,"error":%q,"commit":"","bytes":0,"agent":%q}`, ts(ago), host, status, errCode, agent)
	}
	appendLines(t, l.Attempts(),
		att("act1", 3*time.Hour, 201, "", "cis490-shipper/v1"),
		att("reg1", 2*time.Hour, 201, "", "cis490-shipper/v2"),
		att("act1", 90*time.Minute, 201, "", "cis490-shipper/v2"),
		att("cfg1", 10*time.Minute, 412, "commit-not-in-window", "cis490-shipper/v1"),
	)
	appendLines(t, l.Alerts(),
		fmt.Sprintf(`{"ts":%q,"host":"cfg1","symptom":"fatal-only","detail":"3 attempts","bucket":"2026-12-04T10"}`, ts(150*time.Minute)),
		fmt.Sprintf(`{"ts":%q,"host":"cfg1","symptom":"fatal-only","detail":"3 attempts","bucket":"2026-12-04T12"}`, ts(5*time.Minute)),
		fmt.Sprintf(`{"ts":%q,"host":"exp1","symptom":"silent","detail":"quiet","bucket":"2026-12-04T11"}`, ts(80*time.Minute)),
	)
	os.MkdirAll(l.HostHealth(), 0o755)
	os.WriteFile(l.HostHealthFile("act1"), []byte(fmt.Sprintf(`{"host":"act1","received_at":%q,"report":{"overall":"warn","version":"v2"}}`, ts(6*time.Hour))), 0o644)
	os.WriteFile(l.HostHealthFile("stranger"), []byte(fmt.Sprintf(`{"host":"stranger","received_at":%q,"report":{"overall":"ok"}}`, ts(time.Hour))), 0o644)

	cfg := config.DefaultReceiver()
	cfg.Auth.Hosts = map[string]string{"cfg1": "/etc/cis490/tokens/cfg1", "reg1": "/etc/cis490/tokens/reg1"}
	cfg.FleetHealth.ExpectedHosts = []string{"exp1"}
	return cfg, dir
}

func TestFleetView(t *testing.T) {
	cfg, dir := syntheticFleet(t)
	v, err := Build(cfg, dir, now)
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string]Host{}
	var order []string
	for _, h := range v.Hosts {
		if _, dup := byHost[h.Host]; dup {
			t.Errorf("host %s listed twice", h.Host)
		}
		byHost[h.Host] = h
		order = append(order, h.Host)
	}
	if got, want := strings.Join(order, " "), "rev1 cfg1 exp1 act1 reg1"; got != want {
		t.Errorf("hosts worst first: %s, want %s", got, want)
	}
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	t.Run("sources", func(t *testing.T) {
		for host, want := range map[string]string{"reg1": "active config registry", "rev1": "registry", "cfg1": "active config", "exp1": "expected", "act1": "active"} {
			if got := strings.Join(byHost[host].Sources, " "); got != want {
				t.Errorf("%s sources %q, want %q", host, got, want)
			}
		}
	})
	t.Run("versions from the newest attempt, else the health report", func(t *testing.T) {
		for host, want := range map[string]string{"act1": "v2", "reg1": "v2", "cfg1": "v1", "exp1": "<nil>"} {
			if got := str(byHost[host].Version); got != want {
				t.Errorf("%s version %s, want %s", host, got, want)
			}
		}
	})
	t.Run("episodes and their ages", func(t *testing.T) {
		a := byHost["act1"]
		if a.Episodes24h != 2 || a.Bytes24h != 500 || a.LastEpisodeAgeS == nil || *a.LastEpisodeAgeS != 5400 {
			t.Errorf("act1: %d episodes, %d bytes, last %v", a.Episodes24h, a.Bytes24h, a.LastEpisodeAgeS)
		}
		if byHost["exp1"].LastEpisodeAt != nil {
			t.Error("exp1 has a last episode")
		}
	})
	t.Run("last attempt, health, alerts of this and the previous hour", func(t *testing.T) {
		c := byHost["cfg1"]
		if c.LastAttempt == nil || c.LastAttempt.Status != 412 || c.LastAttempt.AgeS != 600 {
			t.Errorf("cfg1 last attempt %+v", c.LastAttempt)
		}
		if len(c.Alerts) != 1 || c.Alerts[0].Bucket != "2026-12-04T12" {
			t.Errorf("cfg1 alerts %+v (the 10:00 bucket is too old)", c.Alerts)
		}
		if e := byHost["exp1"]; len(e.Alerts) != 1 || e.Alerts[0].Symptom != "silent" {
			t.Errorf("exp1 alerts %+v", e.Alerts)
		}
		if h := byHost["act1"].Health; h == nil || h.Overall != "warn" || h.AgeS != 6*3600 {
			t.Errorf("act1 health %+v", h)
		}
	})
	t.Run("certificates and revocation from the registry", func(t *testing.T) {
		if got := str(byHost["reg1"].CertNotAfter); got != "2027-03-01T00:00:00.000Z" {
			t.Errorf("reg1 cert_not_after %s", got)
		}
		if got := str(byHost["rev1"].RevokedAt); got != ts(time.Hour) {
			t.Errorf("rev1 revoked_at %s", got)
		}
	})
	t.Run("hosts outside every source are not listed", func(t *testing.T) {
		for _, h := range []string{"old1", "stranger"} {
			if _, ok := byHost[h]; ok {
				t.Errorf("%s listed", h)
			}
		}
	})
	t.Run("JSON shape", func(t *testing.T) {
		b, _ := json.Marshal(v)
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["schema"] != 1.0 || m["generated_at"] != "2026-12-04T12:30:00.000Z" || m["release"] != nil {
			t.Errorf("document %v", m)
		}
		host := m["hosts"].([]any)[2].(map[string]any) // exp1: nothing known
		for _, k := range []string{"host", "sources", "version", "last_episode_at", "last_episode_age_s", "episodes_24h", "bytes_24h", "last_attempt", "health", "alerts", "cert_not_after", "revoked_at"} {
			if _, ok := host[k]; !ok {
				t.Errorf("host row lacks %q: %v", k, host)
			}
		}
	})
	t.Run("the table has one aligned line per host", func(t *testing.T) {
		var buf bytes.Buffer
		WriteTable(&buf, v)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2+len(v.Hosts) || !strings.HasPrefix(lines[2], "rev1 ") {
			t.Errorf("table:\n%s", buf.String())
		}
		col := strings.Index(lines[1], "VERSION")
		for _, l := range lines[2:] {
			if l[col-1] != ' ' || l[col] == ' ' {
				t.Errorf("column VERSION not aligned in %q", l)
			}
		}
	})
}
