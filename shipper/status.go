package main

import (
	"fmt"
	"time"

	"cis490/internal/queuedir"
	"cis490/shipper/queue"
)

// runStatus prints the local queue counts; it reads only, takes no lock and
// runs beside the daemon. Exit 1 on an I/O error.
func (c *cli) runStatus(args []string) int {
	fs := c.flags("status")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if code, ok := c.loadConfig(); !ok {
		return code
	}
	st, err := queue.ReadStatus(queuedir.New(c.cfg.Paths.DataDir), time.Now())
	if err != nil {
		return c.fail(exitFailure, "io", err)
	}
	if c.json {
		c.printJSON(st)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "pending      %d\noldest       %s\noutbox       %d\nquarantined  %d\nshipped      %d\n",
		st.Pending, time.Duration(st.OldestPendingAgeS)*time.Second, st.Outbox, st.Quarantined, st.Shipped)
	return exitOK
}
