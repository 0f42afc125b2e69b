// Command receiverbench measures cis490-receiver against what the machine
// can do: it serves trivial baseline handlers on loopback (hash, write,
// serial), drives the same upload client at them and at the real receiver,
// and reports throughput, memory, start-up time and the targets of
// docs/BENCHMARKS.md. bench/receiver/run.sh builds and runs it.
//
//	receiverbench suite --receiver BIN [--out DIR] [--reps N] [--arm64 BIN]
//	receiverbench baseline --dir D [--listen ADDR]
//	receiverbench fsyncs --dir D [--pattern file|serial] [--par N] [--n N]
//	receiverbench pair --a BIN [--a-env K=V] --b BIN [--b-env K=V] [flags]
package main

import (
	"fmt"
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: receiverbench suite|baseline|fsyncs|pair [flags]")
		return 2
	}
	switch args[0] {
	case "suite":
		return runSuite(args[1:], stdout, stderr)
	case "baseline":
		return runBaseline(args[1:], stdout, stderr)
	case "fsyncs":
		return runFsyncs(args[1:], stdout, stderr)
	case "pair":
		return runPair(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "receiverbench: unknown command %q\n", args[0])
		return 2
	}
}
