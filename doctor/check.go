package main

import (
	"context"
	"fmt"
	"time"

	"cis490/internal/config"
)

// Status is a check's outcome.
type Status string

// Outcomes, from best to worst; skip counts as ok for the overall status.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// rank orders statuses for the overall result and the exit code.
func (s Status) rank() int {
	switch s {
	case Warn:
		return 1
	case Fail:
		return 2
	}
	return 0
}

// Result is what one check found (SPEC §9).
type Result struct {
	Check   string `json:"check"`
	Status  Status `json:"status"`
	Summary string `json:"summary"`
	Fix     string `json:"fix"` // a command to run, or empty
}

// Check is one inspection of the host. Name is kebab-case and stable; Run
// never changes the host.
type Check interface {
	Name() string
	Run(ctx context.Context) Result
}

// result builds a Result; the runner fills in the check's name.
func result(s Status, fix, format string, args ...any) Result {
	return Result{Status: s, Summary: fmt.Sprintf(format, args...), Fix: fix}
}

// host is what every check knows about the lab host: its environment and
// its configuration as loaded (or the reason it did not load).
type host struct {
	env     *Env
	cfg     config.LabHost // defaults when the config did not load
	cfgPath string         // the file read; "" when running on defaults
	cfgErr  error          // why the config did not load
	since   time.Duration  // how much of the shipper journal to read
}

// configured reports whether the config loaded; checks that need it skip
// otherwise, since the config check already fails.
func (h *host) configured() bool { return h.cfgErr == nil }

// who names the user the doctor runs as, for summaries.
func (h *host) who() string {
	if h.env.User == "" {
		return "this user"
	}
	return "user " + h.env.User
}

var skipNoConfig = result(Skip, "", "config did not load")

// checks returns the doctor's checks in their fixed order (SPEC §13).
func checks(h *host) []Check {
	return []Check{
		configCheck{h}, certCheck{h}, tokenCheck{h}, receiverCheck{h},
		queueCheck{h}, diskCheck{h}, serviceCheck{h}, clockCheck{h}, shipperErrorsCheck{h},
		updateCheck{h},
	}
}

// runChecks runs every check concurrently, so that the slowest one bounds the
// doctor's time, and returns the results in the checks' order. A check still
// running when ctx ends is reported as failed.
func runChecks(ctx context.Context, cs []Check) []Result {
	type done struct {
		i int
		r Result
	}
	ch := make(chan done, len(cs))
	for i, c := range cs {
		go func() { ch <- done{i, c.Run(ctx)} }()
	}
	out := make([]Result, len(cs))
	finished := make([]bool, len(cs))
	for range cs {
		select {
		case d := <-ch:
			out[d.i], finished[d.i] = d.r, true
		case <-ctx.Done():
			// Keep the results that arrived together with the deadline.
			for drained := false; !drained; {
				select {
				case d := <-ch:
					out[d.i], finished[d.i] = d.r, true
				default:
					drained = true
				}
			}
			for i := range cs {
				if !finished[i] {
					out[i] = result(Fail, "", "did not finish in time")
				}
			}
			return named(cs, out)
		}
	}
	return named(cs, out)
}

func named(cs []Check, rs []Result) []Result {
	for i, c := range cs {
		rs[i].Check = c.Name()
	}
	return rs
}

// overall returns the worst status of rs, skip counting as ok.
func overall(rs []Result) Status {
	worst := OK
	for _, r := range rs {
		if r.Status.rank() > worst.rank() {
			worst = r.Status
		}
	}
	return worst
}
