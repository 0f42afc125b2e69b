// Command cis490-shipper is the lab host's shipper (SPEC §8): a daemon that
// packs finished episodes, uploads them to the receiver and retires them,
// plus the one-shot commands --once, --ping, quarantine-unstamped,
// ship-health and status.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
