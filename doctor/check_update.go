package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"cis490/internal/wire"
	"cis490/shipper/update"
)

// updateTimer is the unit that runs `cis490-shipper update` (SPEC §15).
const updateTimer = "cis490-update.timer"

// updateFix is where an operator starts after a refused or rolled-back
// update: what the next run would do, and the last runs' log.
const updateFix = "cis490-shipper update --check && journalctl -u cis490-update -n 50 --no-pager"

// updateCheck is the tenth check (SPEC §15): the update timer enabled; the
// last run neither rolled back nor refused; a successful run within two
// days, a manifest not expiring within 14 days and a clean code checkout.
// Skipped when [update] enabled = false.
type updateCheck struct{ h *host }

func (updateCheck) Name() string { return "update" }

func (c updateCheck) Run(ctx context.Context) Result {
	if !c.h.configured() {
		return skipNoConfig
	}
	if !c.h.cfg.Update.Enabled {
		return result(Skip, "", "[update] enabled = false")
	}
	env := c.h.env
	timer := ""
	enabled := env.command(ctx, "systemctl", "is-enabled", updateTimer)
	if _, done := unusable("systemctl", enabled, env); !done {
		timer = firstLine(enabled.stdout, "not installed")
	}
	st, err := update.LoadState(env.UpdateState)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return result(Warn, "", "update state unreadable: %v", err)
	}
	now := env.Now()
	summary := "no update has run yet"
	if st.LastRunAt != "" {
		summary = fmt.Sprintf("last run %s: %s", since(now, st.LastRunAt), st.LastStatus)
		if st.Installed != "" {
			summary += ", release " + st.Installed
		}
	}
	if timer != "" {
		summary += ", " + updateTimer + " " + timer
	}
	switch st.LastStatus {
	case update.StatusRolledBack, update.StatusRefused:
		return result(Fail, updateFix, "%s: %s", summary, st.LastError)
	}
	if timer != "" && timer != "enabled" {
		return result(Warn, "sudo systemctl enable --now "+updateTimer, "%s", summary)
	}
	if t, err := wire.ParseTime(st.LastSuccessAt); st.LastRunAt != "" && (err != nil || now.Sub(t) > 48*time.Hour) {
		return result(Warn, updateFix, "%s; no successful update check for over 2 days", summary)
	}
	if t, err := wire.ParseTime(st.ExpiresAt); err == nil && t.Sub(now) < 14*24*time.Hour {
		return result(Warn, "", "%s; the release manifest expires %s: the operator must sign a fresh one", summary, st.ExpiresAt)
	}
	if st.CodeStatus == update.CodeDirty || st.CodeStatus == update.CodeDiverged {
		return result(Warn, "git -C "+c.h.cfg.Update.CodeRepo+" status", "%s; the code checkout is %s and is left alone", summary, st.CodeStatus)
	}
	return result(OK, "", "%s", summary)
}

// since renders how long ago an RFC 3339 time was, e.g. "3h ago".
func since(now time.Time, ts string) string {
	t, err := wire.ParseTime(ts)
	if err != nil {
		return "at " + ts
	}
	return now.Sub(t).Round(time.Minute).String() + " ago"
}
