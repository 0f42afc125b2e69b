package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"cis490/doctor/shiplog"
	"cis490/internal/config"
	"cis490/internal/wire"
)

// shipperErrorsCheck: the last --since of the cis490-shipper journal,
// classified (SPEC §9): out-of-window rejections lead, then other
// rejections, credential refusals, and transient failures.
type shipperErrorsCheck struct{ h *host }

func (shipperErrorsCheck) Name() string { return "shipper-errors" }

func (c shipperErrorsCheck) Run(ctx context.Context) Result {
	h := c.h
	env := h.env
	window := age(h.since)
	out := env.command(ctx, "journalctl", "-u", shipperUnit,
		"--since", fmt.Sprintf("-%ds", int(h.since.Seconds())), "-o", "cat", "--no-pager")
	if r, done := unusable("journalctl", out, env); done {
		return r
	}
	if journalDenied(out.stdout + out.stderr) {
		user := env.User
		if user == "" {
			user = "$USER"
		}
		return result(Skip, "sudo usermod -aG systemd-journal "+user,
			"the %s journal is not readable by %s: join the systemd-journal (or adm) group", shipperUnit, h.who())
	}
	if out.err != nil {
		return result(Skip, "", "journalctl: %s", firstLine(out.stderr, out.err.Error()))
	}
	s, err := shiplog.Read(strings.NewReader(out.stdout))
	if err != nil {
		return result(Skip, "", "journalctl output: %v", err)
	}

	switch {
	case s.OutOfWindow > 0:
		fix := s.Remediation
		if fix == "" {
			fix = config.DefaultRemediation
		}
		summary := fmt.Sprintf("%d ship(s) rejected as out-of-window", s.OutOfWindow)
		if n := total(s.Rejected); n > 0 {
			summary += fmt.Sprintf(", %d other rejection(s): %s", n, counts(s.Rejected))
		}
		return result(Fail, fix, "%s in the last %s", summary, window)
	case len(s.Rejected) > 0:
		fix := "ls -t " + h.cfg.Paths.DataDir + "/quarantine | head"
		for k := range s.Rejected {
			if strings.Contains(k, wire.CodeMissingCommit) || strings.Contains(k, wire.CodeMalformedCommit) {
				fix = config.DefaultRemediation // the code producing episodes does not stamp them
			}
		}
		return result(Fail, fix, "%d ship(s) rejected in the last %s: %s", total(s.Rejected), window, counts(s.Rejected))
	case len(s.Refused) > 0:
		return result(Fail, "cis490-shipper --ping", "%d ship(s) refused for credentials in the last %s: %s",
			total(s.Refused), window, counts(s.Refused))
	case len(s.Transient) > 0:
		return result(Warn, "", "%d ship(s) failed and will be retried in the last %s: %s",
			total(s.Transient), window, counts(s.Transient))
	}
	return result(OK, "", "no shipping errors in the last %s (%d shipped)", window, s.Shipped)
}

// journalDenied reports whether journalctl said the reader may not see the
// system journal: an error, or the hint that only the user's own messages
// are shown.
func journalDenied(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "permission denied") ||
		strings.Contains(l, "insufficient permissions") ||
		strings.Contains(l, "not seeing messages from other users and the system")
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// counts renders "503 gate-unavailable ×3, network ×1", most frequent first.
func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
