package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Units the service check looks at (SPEC §12, §14).
const (
	shipperUnit    = "cis490-shipper"
	doctorTimer    = "cis490-doctor-check.timer"
	certRenewTimer = "cis490-cert-renew.timer"
)

// timers are the lab host's timers that must be enabled, in report order.
var timers = []string{doctorTimer, certRenewTimer}

// serviceCheck: cis490-shipper is active and the lab host's timers are
// enabled; skipped where systemctl is absent or systemd is not running.
type serviceCheck struct{ h *host }

func (serviceCheck) Name() string { return "service" }

func (c serviceCheck) Run(ctx context.Context) Result {
	env := c.h.env
	active := env.command(ctx, "systemctl", "is-active", shipperUnit)
	if r, done := unusable("systemctl", active, env); done {
		return r
	}
	state := firstLine(active.stdout, "unknown")
	summary := fmt.Sprintf("%s %s", shipperUnit, state)
	var disabled []string
	for _, t := range timers {
		enabled := env.command(ctx, "systemctl", "is-enabled", t)
		if r, done := unusable("systemctl", enabled, env); done {
			return r
		}
		st := firstLine(enabled.stdout, "not installed")
		summary += fmt.Sprintf(", %s %s", t, st)
		if st != "enabled" {
			disabled = append(disabled, t)
		}
	}
	switch {
	case state == "failed":
		return result(Fail, "sudo systemctl restart "+shipperUnit+" && journalctl -u "+shipperUnit+" -n 50 --no-pager", "%s", summary)
	case state != "active" && state != "activating" && state != "reloading":
		return result(Fail, "sudo systemctl enable --now "+shipperUnit, "%s", summary)
	case len(disabled) > 0:
		return result(Warn, "sudo systemctl enable --now "+strings.Join(disabled, " "), "%s", summary)
	}
	return result(OK, "", "%s", summary)
}

// clockCheck: timedated reports the clock NTP-synchronised; skipped where
// timedatectl is absent or systemd is not running.
type clockCheck struct{ h *host }

func (clockCheck) Name() string { return "clock" }

func (c clockCheck) Run(ctx context.Context) Result {
	env := c.h.env
	out := env.command(ctx, "timedatectl", "show", "-p", "NTPSynchronized", "--value")
	if r, done := unusable("timedatectl", out, env); done {
		return r
	}
	if out.err != nil {
		return result(Skip, "", "timedatectl: %s", firstLine(out.stderr, out.err.Error()))
	}
	switch v := firstLine(out.stdout, ""); v {
	case "yes":
		return result(OK, "", "clock synchronised (NTP)")
	case "no":
		// CanNTP=no: no NTP service is installed, so set-ntp would fail.
		can := env.command(ctx, "timedatectl", "show", "-p", "CanNTP", "--value")
		if can.err == nil && firstLine(can.stdout, "") == "no" {
			return result(Warn, "sudo apt-get install systemd-timesyncd (or chrony) && sudo timedatectl set-ntp true",
				"clock not synchronised and no NTP service is installed: certificate checks and timestamps may be off")
		}
		return result(Warn, "sudo timedatectl set-ntp true && timedatectl timesync-status",
			"clock not synchronised: certificate checks and timestamps may be off")
	default:
		return result(Skip, "", "timedatectl answered %q", v)
	}
}

// unusable turns the ways an external query can fail to answer into a
// Result: command absent or systemd not running (skip), no answer in time
// (warn). done is false when out holds an answer to interpret.
func unusable(name string, out output, env *Env) (r Result, done bool) {
	switch {
	case errors.Is(out.err, errNotFound):
		return result(Skip, "", "%s not found", name), true
	case out.timedOut:
		return result(Warn, "", "%s did not answer within %s", name, env.CmdTimeout), true
	case noSystemd(out.stderr):
		return result(Skip, "", "systemd is not running here (%s)", firstLine(out.stderr, "")), true
	}
	return Result{}, false
}

// noSystemd reports whether a systemd tool's stderr says there is no
// systemd to ask (containers, chroots).
func noSystemd(stderr string) bool {
	return strings.Contains(stderr, "System has not been booted with systemd") ||
		strings.Contains(stderr, "Failed to connect to bus") ||
		strings.Contains(stderr, "Failed to connect to system scope bus")
}

// firstLine returns the first non-empty line of s, trimmed, or def.
func firstLine(s, def string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return def
}
