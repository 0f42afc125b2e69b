// Command packbench generates a synthetic episode and packs it with package
// pack, for bench/pack/run.sh.
//
//	packbench gen -out DIR [-seed N] [-size BYTES]
//	packbench pack -root DIR -id ID [-level N] [-out FILE]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"cis490/internal/pack"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: packbench gen|pack [flags]")
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "gen":
		out := fs.String("out", "", "directory to create (must not exist)")
		seed := fs.Uint64("seed", 1, "generator seed")
		size := fs.Int64("size", 1<<30, "approximate episode size in bytes")
		if fs.Parse(args[1:]) != nil || *out == "" || fs.NArg() > 0 {
			return 2
		}
		if err := os.Mkdir(*out, 0o755); err != nil {
			fmt.Fprintln(stderr, "packbench:", err)
			return 1
		}
		if err := generate(*out, *seed, *size); err != nil {
			fmt.Fprintln(stderr, "packbench:", err)
			return 1
		}
		return 0
	case "pack":
		root := fs.String("root", "", "episode directory")
		id := fs.String("id", "", "episode id (tar prefix)")
		level := fs.Int("level", pack.DefaultLevel, "zstd level")
		out := fs.String("out", "", "output file; empty hashes and discards")
		profile := fs.String("cpuprofile", "", "write a CPU profile to this file")
		if fs.Parse(args[1:]) != nil || *root == "" || *id == "" || fs.NArg() > 0 {
			return 2
		}
		w := io.Discard
		if *out != "" {
			f, err := os.Create(*out)
			if err != nil {
				fmt.Fprintln(stderr, "packbench:", err)
				return 1
			}
			defer f.Close()
			w = f
		}
		if *profile != "" {
			f, err := os.Create(*profile)
			if err != nil {
				fmt.Fprintln(stderr, "packbench:", err)
				return 1
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(stderr, "packbench:", err)
				return 1
			}
			defer pprof.StopCPUProfile()
		}
		res, err := pack.Write(context.Background(), w, *root, *id, pack.Options{Level: *level})
		if err != nil {
			fmt.Fprintln(stderr, "packbench:", err)
			return 1
		}
		json.NewEncoder(stdout).Encode(map[string]any{"sha256": res.SHA256, "bytes": res.Bytes})
		return 0
	default:
		fmt.Fprintf(stderr, "packbench: unknown command %q\n", args[0])
		return 2
	}
}
