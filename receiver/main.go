// Command cis490-receiver is the central receiver: the HTTP API that stores
// verified episode tarballs (serve, the default), and the maintenance
// commands fleet-health, index-backfill, fsck and check-config (SPEC §1).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(runMain()) }

// runMain runs the command line with SIGTERM and SIGINT cancelling it.
func runMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}
