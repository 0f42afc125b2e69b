package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// runPair compares two receivers, A and B (two builds, or one build with
// two environments), on one upload shape: both run at once, each over its
// own data directory on the same file system and in one memory cgroup, and
// take turns in slices (A B, then B A, ...), so each round's ratio B/A is
// measured within seconds on the same disk. It prints every slice and the
// median of the per-round ratios.
//
//	receiverbench pair --a BIN [--a-env K=V,...] --b BIN [--b-env K=V,...]
//	    [--out DIR] [--size BYTES] [--clients N] [--slice N] [--rounds N]
func runPair(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pair", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binA := fs.String("a", "", "receiver binary A (required)")
	binB := fs.String("b", "", "receiver binary B (required; may be A's)")
	envA := fs.String("a-env", "", "comma-separated K=V added to A's environment")
	envB := fs.String("b-env", "", "comma-separated K=V added to B's environment")
	out := fs.String("out", "bench/out/receiver/pair", "scratch directory for both data directories")
	size := fs.Int("size", 256<<10, "bytes per upload")
	clients := fs.Int("clients", 8, "concurrent uploads")
	count := fs.Int("slice", 2000, "uploads per slice")
	rounds := fs.Int("rounds", 10, "rounds of one slice each")
	if err := fs.Parse(args); err != nil || *binA == "" || *binB == "" || fs.NArg() != 0 || *count < 1 || *rounds < 1 {
		fmt.Fprintln(stderr, "usage: receiverbench pair --a BIN [--a-env K=V,...] --b BIN [--b-env K=V,...] [--size N] [--clients N] [--slice N] [--rounds N]")
		return 2
	}
	if err := pair(*binA, *binB, splitEnv(*envA), splitEnv(*envB), *out, *size, *clients, *count, *rounds, stdout); err != nil {
		fmt.Fprintln(stderr, "receiverbench pair:", err)
		return 1
	}
	return 0
}

func splitEnv(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func pair(binA, binB string, envA, envB []string, out string, size, clients, count, rounds int, stdout io.Writer) error {
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	cg, err := newMemcg(2 << 30)
	if err != nil {
		fmt.Fprintf(stdout, "page cache not capped: %v\n", err)
	} else {
		defer cg.close()
	}
	procs := map[string]*receiverProc{}
	for _, r := range []struct {
		name, bin string
		env       []string
	}{{"A", binA, envA}, {"B", binB, envB}} {
		dir := filepath.Join(out, r.name)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		addr, err := freePort()
		if err != nil {
			return err
		}
		cfg := filepath.Join(out, r.name+".toml")
		if err := writeConfig(cfg, filepath.Join(dir, "data"), addr, true); err != nil {
			return err
		}
		p, err := startReceiver(r.bin, []string{"serve", "--config", cfg}, addr, filepath.Join(out, r.name+".log"), r.env...)
		if err != nil {
			return err
		}
		defer p.stop()
		if err := cg.add(p.cmd.Process.Pid); err != nil {
			return err
		}
		procs[r.name] = p
		fmt.Fprintf(stdout, "%s: %s %s at %s\n", r.name, r.bin, strings.Join(r.env, " "), addr)
	}
	c := newCorpus(size, 64, 1)
	rate := map[string][]float64{}
	var ratios []float64
	for round := 0; round < rounds; round++ {
		order := []string{"A", "B"}
		if round%2 == 1 {
			order = []string{"B", "A"}
		}
		got := map[string]float64{}
		for _, name := range order {
			p := procs[name]
			ups := prepare(c, count, "/v1/episodes/", fmt.Sprintf("p%d-%s", round, name), benchToken)
			sl, err := runSlice(p.addr, p.cmd.Process.Pid, ups, clients)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", name, round+1, err)
			}
			got[name] = float64(count) / sl.took.Seconds()
			rate[name] = append(rate[name], got[name])
			fmt.Fprintf(stdout, "round %2d %s: %6.0f uploads/s, %.3f ms CPU per upload\n", round+1, name, got[name], ms(sl.server)/float64(count))
		}
		ratios = append(ratios, got["B"]/got["A"])
	}
	med := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return medianOf(v)
	}
	fmt.Fprintf(stdout, "B/A per round:")
	for _, r := range ratios {
		fmt.Fprintf(stdout, " %.2f", r)
	}
	fmt.Fprintf(stdout, "\nB/A: median %.3f of %d rounds; uploads/s median A %.0f, B %.0f (%d × %d bytes per slice, %d clients)\n",
		med(ratios), rounds, med(rate["A"]), med(rate["B"]), count, size, clients)
	return nil
}
