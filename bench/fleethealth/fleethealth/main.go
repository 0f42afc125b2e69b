// Command fleethealth runs the fleet-health check exactly as
// `cis490-receiver fleet-health` does, for benchmarking the package on its
// own.
package main

import (
	"context"
	"os"

	"cis490/internal/fleethealth"
)

func main() {
	os.Exit(fleethealth.Command(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
