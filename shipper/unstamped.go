package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"cis490/internal/queuedir"
	"cis490/shipper/queue"
)

// runUnstamped drains episodes without a usable code_version.commit into
// quarantine (SPEC §8.2). It takes no lock: it is safe beside the daemon.
func (c *cli) runUnstamped(args []string) int {
	fset := c.flags("quarantine-unstamped")
	dryRun := fset.Bool("dry-run", false, "report what would move, move nothing")
	if code, ok := c.parse(fset, args); !ok {
		return code
	}
	if code, ok := c.loadConfig(); !ok {
		return code
	}
	dirs := queuedir.New(c.cfg.Paths.DataDir)
	rep := queue.UnstampedReport{DryRun: *dryRun, Moved: []queue.Moved{}}
	if _, err := os.Stat(dirs.Episodes); !errors.Is(err, fs.ErrNotExist) {
		settle := time.Duration(c.cfg.Shipper.SettleS) * time.Second
		rep, err = queue.QuarantineUnstamped(dirs, *dryRun, time.Now(), settle, c.log)
		if err != nil {
			return c.fail(exitFailure, "io", err)
		}
	}
	if c.json {
		c.printJSON(rep)
		return exitOK
	}
	verb := "quarantined"
	if rep.DryRun {
		verb = "would quarantine"
	}
	for _, m := range rep.Moved {
		fmt.Fprintf(c.stdout, "%s %s (%s)\n", verb, m.ID, m.Reason)
	}
	fmt.Fprintf(c.stdout, "%s %d, kept %d\n", verb, rep.Quarantined, rep.Kept)
	return exitOK
}
