// Package buildinfo holds the version and commit stamped into every binary by
// build.sh (-ldflags -X).
package buildinfo

import "fmt"

// Version and Commit are set at link time; the defaults mark a development
// build.
var (
	Version = "dev"
	Commit  = "unknown"
)

// String returns the one-line text that --version prints.
func String(binary string) string {
	return fmt.Sprintf("%s %s (commit %s)", binary, Version, Commit)
}
