// Command cis490-doctor inspects a lab host and prints a report, a table for
// people or one JSON document for scripts (SPEC §9). It never changes the
// host.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
