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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
