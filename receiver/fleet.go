package main

import (
	"context"
	"io"

	"cis490/receiver/fleetview"
)

// runFleet is `cis490-receiver fleet [--json] [--now T]` (SPEC §16): every
// host's version, recent episodes, last attempt and report, alerts and
// certificate. Exit 0, 1 when its inputs cannot be read, 2 usage/config.
func runFleet(_ context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("fleet", stderr, &c)
	now := nowFlag(fs, "show the fleet as at this RFC 3339 `time` instead of the clock")
	if code, ok := parse(fs, args, &c, stdout); !ok {
		return code
	}
	cfg, _, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	v, err := fleetview.Build(cfg, cfg.Server.DataDir, now())
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "unreadable", err)
	}
	if c.json {
		writeJSONDoc(stdout, v)
		return exitOK
	}
	if err := fleetview.WriteTable(stdout, v); err != nil {
		return exitProblem
	}
	return exitOK
}
