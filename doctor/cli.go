package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"cis490/internal/buildinfo"
	"cis490/internal/cmdline"
	"cis490/internal/config"
	"cis490/internal/wire"
)

const usage = `usage: cis490-doctor [--config F] [--data-dir D] [--json] [--since 10m]
       cis490-doctor --version

Inspects this lab host and prints one line per check: config, certificates,
token, receiver, queue, disk, service, clock, shipper-errors. Changes nothing.
Exit 0 when every check is ok, 1 when any warns, 2 when any fails (or on a
usage or config error).
`

// Report is the doctor's --json document (SPEC §9).
type Report struct {
	Schema      int      `json:"schema"`
	Host        string   `json:"host"`
	GeneratedAt string   `json:"generated_at"`
	Version     string   `json:"version"`
	Overall     Status   `json:"overall"`
	Checks      []Result `json:"checks"`
}

// run is the whole program on the real host.
func run(args []string, stdout, stderr io.Writer) int {
	return runEnv(context.Background(), args, stdout, stderr, defaultEnv(), isTerminal(stdout))
}

// runEnv is run with the host's environment and colour choice given.
func runEnv(ctx context.Context, args []string, stdout, stderr io.Writer, env *Env, color bool) int {
	fs := flag.NewFlagSet("cis490-doctor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "lab host config `file` (default "+config.LabHostPath+" if present)")
	dataDir := fs.String("data-dir", "", "shipper data `directory` (overrides [paths] data_dir)")
	asJSON := fs.Bool("json", false, "print the report as one JSON document")
	sinceFlag := fs.String("since", "", "how much of the shipper journal to read, a Go `duration` (default [doctor] since)")
	version := fs.Bool("version", false, "print the version and exit")

	usageErr := func(err error) int {
		if *asJSON || cmdline.WantsJSON(args) {
			writeJSON(stdout, map[string]string{"error": "usage", "detail": err.Error()})
		}
		fmt.Fprintf(stderr, "cis490-doctor: %v\n%s", err, usage)
		return 2
	}
	if err := cmdline.Parse(fs, args); err != nil {
		if cmdline.IsHelp(err) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		return usageErr(err)
	}
	if *version {
		fmt.Fprintln(stdout, buildinfo.String("cis490-doctor"))
		return 0
	}

	h := &host{env: env}
	h.cfg, h.cfgPath, h.cfgErr = env.LoadConfig(*configPath)
	if h.cfgErr != nil {
		// The report still needs a host name and the journal window.
		hn, _ := os.Hostname()
		h.cfg = config.DefaultLabHost(config.HostIDFromHostname(hn))
	}
	if *dataDir != "" {
		h.cfg.Paths.DataDir = *dataDir
	}
	h.since = h.cfg.Doctor.Since
	if *sinceFlag != "" {
		d, err := time.ParseDuration(*sinceFlag)
		if err != nil || d <= 0 {
			return usageErr(fmt.Errorf("--since %q: want a positive Go duration such as 10m or 2h", *sinceFlag))
		}
		h.since = d
	}

	ctx, cancel := context.WithTimeout(ctx, Deadline)
	defer cancel()
	results := runChecks(ctx, checks(h))
	rep := Report{
		Schema:      1,
		Host:        h.cfg.HostID,
		GeneratedAt: wire.FormatTime(env.Now()),
		Version:     buildinfo.Version,
		Overall:     overall(results),
		Checks:      results,
	}
	if *asJSON {
		writeJSON(stdout, rep)
	} else {
		writeHuman(stdout, rep, color)
	}
	return rep.Overall.rank()
}

func writeJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v) // strings, ints and slices of them: cannot fail
	w.Write(append(b, '\n'))
}

// ANSI colours of the status column.
var colors = map[Status]string{OK: "\x1b[32m", Warn: "\x1b[33m", Fail: "\x1b[31m", Skip: "\x1b[2m"}

const colorReset = "\x1b[0m"

// writeHuman prints one aligned line per check, then the fixes of the
// checks that are not ok.
func writeHuman(w io.Writer, rep Report, color bool) {
	fmt.Fprintf(w, "cis490-doctor %s on %s: %s\n", rep.Version, rep.Host, paint(rep.Overall, "%s", color))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rep.Checks {
		// Pad before painting so escape codes do not upset the alignment.
		fmt.Fprintf(tw, "%s\t%s\t%s\n", paint(r.Status, "%-4s", color), r.Check, r.Summary)
	}
	tw.Flush()
	first := true
	for _, r := range rep.Checks {
		if r.Fix == "" || r.Status == OK {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nto fix:")
			first = false
		}
		fmt.Fprintf(w, "  %s:\n", r.Check)
		for _, line := range strings.Split(r.Fix, "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
}

// paint renders a status with format, coloured when asked.
func paint(s Status, format string, color bool) string {
	text := fmt.Sprintf(format, s)
	if !color {
		return text
	}
	return colors[s] + text + colorReset
}

// isTerminal reports whether w is a character device (a terminal) and the
// NO_COLOR convention does not ask for plain output.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
