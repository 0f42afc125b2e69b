package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"cis490/internal/census"
	"cis490/internal/queuedir"
)

// pendingWarnAge is how old the oldest finished episode may be before the
// queue check warns that the shipper is behind or stuck.
const pendingWarnAge = time.Hour

// queueCheck: the shipper's queue in data_dir (SPEC §3): pending episodes
// and the age of the oldest, tarballs in the outbox, and episodes
// quarantined in the last day. It only reads.
type queueCheck struct{ h *host }

func (queueCheck) Name() string { return "queue" }

func (c queueCheck) Run(context.Context) Result {
	h := c.h
	if !h.configured() {
		return skipNoConfig
	}
	dir := h.cfg.Paths.DataDir
	now := h.env.Now()
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return result(Fail, "sudo /opt/cis490/scripts/install-lab-host.sh", "data_dir %s does not exist", dir)
		}
		return result(Fail, "", "data_dir %s: %v", dir, err)
	}

	q := queuedir.New(dir)
	eps, err := census.CountEpisodes(q.Episodes)
	if err != nil {
		return result(Fail, "", "%v", err)
	}
	pending, writing, oldest := eps.Ready, eps.Writing, eps.OldestReady
	outbox, err := census.CountOutbox(q.Outbox)
	if err != nil {
		return result(Fail, "", "%v", err)
	}

	quarantined := 0
	qdir := q.Quarantine
	qs, err := census.ReadDir(qdir)
	if err != nil {
		return result(Fail, "", "%v", err)
	}
	for _, e := range qs {
		if at, ok := quarantinedAt(filepath.Join(qdir, e.Name())); ok && now.Sub(at) <= 24*time.Hour {
			quarantined++
		}
	}

	summary := fmt.Sprintf("%d pending", pending)
	if pending > 0 {
		summary += fmt.Sprintf(" (oldest %s)", age(now.Sub(oldest)))
	}
	summary += fmt.Sprintf(", %d being written, %d in outbox, %d quarantined in the last day", writing, outbox, quarantined)
	switch {
	case quarantined > 0:
		return result(Warn, "ls -t "+qdir+" | head && cat "+qdir+"/*/"+queuedir.ReasonFile, "%s", summary)
	case pending > 0 && now.Sub(oldest) > pendingWarnAge:
		return result(Warn, "journalctl -u cis490-shipper -n 50 --no-pager", "%s: shipping is behind", summary)
	}
	return result(OK, "", "%s", summary)
}

// quarantinedAt is when an entry was quarantined: quarantine_reason.json's
// "at", else the entry's modification time.
func quarantinedAt(entry string) (time.Time, bool) {
	if t, err := queuedir.QuarantinedAt(entry); err == nil {
		return t, true
	}
	st, err := os.Stat(entry)
	if err != nil {
		return time.Time{}, false
	}
	return st.ModTime(), true
}

// age renders a duration for a summary: "45s", "12m", "3h", "2d".
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
