package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"cis490/internal/cmdline"
	"cis490/internal/index"
	"cis490/internal/wire"
	"cis490/receiver/fleethealth"
	"cis490/receiver/registry"
	"cis490/receiver/store"
)

// runFleetHealth is fleet-health (SPEC §10): exit 0 whether or not alerts
// fired, 1 when the inputs could not be read.
func runFleetHealth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("fleet-health", stderr, &c)
	now := nowFlag(fs, "evaluate at this RFC 3339 `time` instead of the clock")
	if code, ok := parse(fs, args, &c, stdout); !ok {
		return code
	}
	cfg, _, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	rep, err := fleethealth.Run(ctx, fleethealth.Options{
		DataDir:      cfg.Server.DataDir,
		Config:       cfg.FleetHealth,
		Replicating:  cfg.Replica.Enabled(),
		Now:          now(),
		Warn:         stderr,
		Journal:      os.Getenv("JOURNAL_STREAM") != "",
		NotifyOutput: stderr,
		Logger:       cmdline.NewLogger(stderr),
	})
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "unreadable", err)
	}
	if c.json {
		findings := rep.Findings
		if findings == nil {
			findings = []fleethealth.Finding{}
		}
		writeJSONDoc(stdout, struct {
			Schema      int                   `json:"schema"`
			GeneratedAt string                `json:"generated_at"`
			Findings    []fleethealth.Finding `json:"findings"`
		}{1, wire.FormatTime(rep.GeneratedAt), findings})
		return exitOK
	}
	// One aligned line per finding; nothing when the fleet is healthy, so a
	// quiet fleet keeps the journal quiet.
	if len(rep.Findings) > 0 {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, f := range rep.Findings {
			state := "alerted " + f.TS
			if f.New {
				state = "new"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Host, f.Symptom, state, f.Detail)
		}
		tw.Flush()
	}
	return exitOK
}

// runCheckConfig parses the config and reports the first error (exit 2).
func runCheckConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("check-config", stderr, &c)
	if code, ok := parse(fs, args, &c, stdout); !ok {
		return code
	}
	_, used, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	if used == "" {
		used = "built-in defaults"
	}
	if c.json {
		writeJSONDoc(stdout, map[string]any{"ok": true, "config": used})
	} else {
		fmt.Fprintf(stdout, "%s: ok\n", used)
	}
	return exitOK
}

// runBackfill is index-backfill (SPEC §5.3).
func runBackfill(_ context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("index-backfill", stderr, &c)
	dryRun := fs.Bool("dry-run", false, "report the rows without appending them")
	if code, ok := parse(fs, args, &c, stdout); !ok {
		return code
	}
	cfg, _, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	unlock, err := store.Lock(cfg.Server.DataDir)
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "locked",
			fmt.Errorf("%w (a running receiver re-indexes at every start; stop it or restart it instead)", err))
	}
	defer unlock()
	rows, err := store.Backfill(cfg.Server.DataDir, *dryRun, nil)
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	if rows == nil {
		rows = []index.Row{}
	}
	if c.json {
		writeJSONDoc(stdout, map[string]any{"added": len(rows), "rows": rows})
		return exitOK
	}
	verb := "added"
	if *dryRun {
		verb = "would add"
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "%s %s host=%s sha256=%s bytes=%d\n", verb, r.ID, r.Host, r.SHA256, r.Bytes)
	}
	fmt.Fprintf(stdout, "%s %d row(s)\n", verb, len(rows))
	return exitOK
}

// runFsck is fsck (SPEC §5.4): exit 0 clean, 1 problems found.
func runFsck(_ context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("fsck", stderr, &c)
	verify := fs.Bool("verify", false, "rehash every stored file against its row")
	if code, ok := parse(fs, args, &c, stdout); !ok {
		return code
	}
	cfg, _, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	rep, err := store.FsckReport(cfg.Server.DataDir, *verify)
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	problems := rep.Problems
	// The host registry (SPEC §14): a file that does not parse makes its
	// host's requests fail closed until it is fixed.
	_, regProblems, err := registry.List(cfg.Server.DataDir)
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	for _, p := range regProblems {
		kind := "bad-host-entry"
		if p.Host == "" {
			kind = store.KindTempFile
		}
		problems = append(problems, store.Problem{Kind: kind, ID: p.Host, Detail: p.File + ": " + p.Detail})
	}
	if problems == nil {
		problems = []store.Problem{}
	}
	if c.json {
		writeJSONDoc(stdout, map[string]any{"ok": len(problems) == 0, "problems": problems, "replicated_only": rep.Replicated})
	} else {
		for _, p := range problems {
			fmt.Fprintf(stdout, "%-17s %s\n", p.Kind, p.Detail)
		}
		if rep.Replicated > 0 {
			fmt.Fprintf(stdout, "%d episode(s) kept only in the bucket (local copy removed after replication)\n", rep.Replicated)
		}
		if len(problems) == 0 {
			fmt.Fprintln(stdout, "fsck: clean")
		} else {
			fmt.Fprintf(stdout, "fsck: %d problem(s)\n", len(problems))
		}
	}
	if len(problems) > 0 {
		return exitProblem
	}
	return exitOK
}
