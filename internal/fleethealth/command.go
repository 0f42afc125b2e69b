package fleethealth

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"cis490/internal/config"
	"cis490/internal/wire"
)

const usage = `usage: cis490-receiver fleet-health [--config F] [--data-dir D] [--json] [--now RFC3339]

Checks the fleet for silent hosts, hosts whose every upload is refused,
unstamped uploads and stale health reports; records and logs each alert once
per host, symptom and hour. Exit 0 whether or not alerts fired, 1 when the
inputs could not be read, 2 on a usage or config error.
`

// Command runs `fleet-health` with args (the flags after the subcommand) and
// returns the exit status (SPEC §10, §13).
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleet-health", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "receiver config `file` (default "+config.ReceiverPath+" if present)")
	dataDir := fs.String("data-dir", "", "receiver data `directory` (overrides [server] data_dir)")
	asJSON := fs.Bool("json", false, "print the findings as one JSON document")
	nowFlag := fs.String("now", "", "evaluate at this RFC 3339 `time` instead of the clock")
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	fail := func(code int, errCode string, err error) int {
		if *asJSON {
			writeJSON(stdout, map[string]string{"error": errCode, "detail": err.Error()})
		}
		fmt.Fprintf(stderr, "fleet-health: %v\n", err)
		return code
	}
	if err := fs.Parse(args); err != nil {
		// --json may sit after the bad flag: honour it anyway, so a
		// script always gets one JSON document.
		*asJSON = slices.Contains(args, "--json") || slices.Contains(args, "-json")
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprint(stderr, usage)
		return fail(2, "usage", err)
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return fail(2, "usage", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := wire.ParseTime(*nowFlag)
		if err != nil {
			return fail(2, "usage", fmt.Errorf("--now: %w", err))
		}
		now = t
	}
	cfg, _, err := resolveReceiver(*configPath)
	if err != nil {
		return fail(2, "config", err)
	}
	if *dataDir != "" {
		cfg.Server.DataDir = *dataDir
	}

	rep, err := Run(ctx, Options{
		DataDir:      cfg.Server.DataDir,
		Config:       cfg.FleetHealth,
		Now:          now,
		Warn:         stderr,
		Journal:      os.Getenv("JOURNAL_STREAM") != "",
		NotifyOutput: stderr,
		Logger:       logger,
	})
	if err != nil {
		return fail(1, "unreadable", err)
	}
	if *asJSON {
		findings := rep.Findings
		if findings == nil {
			findings = []Finding{}
		}
		writeJSON(stdout, struct {
			Schema      int       `json:"schema"`
			GeneratedAt string    `json:"generated_at"`
			Findings    []Finding `json:"findings"`
		}{1, formatTS(rep.GeneratedAt), findings})
		return 0
	}
	writeTable(stdout, rep.Findings)
	return 0
}

// writeTable prints one aligned line per finding; nothing when the fleet is
// healthy, so a quiet fleet keeps the journal quiet.
func writeTable(w io.Writer, findings []Finding) {
	if len(findings) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range findings {
		state := "alerted " + f.TS
		if f.New {
			state = "new"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Host, f.Symptom, state, f.Detail)
	}
	tw.Flush()
}

func writeJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v) // plain structs and maps of strings: cannot fail
	w.Write(append(b, '\n'))
}

// resolveReceiver loads the receiver config (config.ResolveReceiver); tests
// replace it.
var resolveReceiver = config.ResolveReceiver
