package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"cis490/internal/buildinfo"
	"cis490/internal/config"
)

const usage = `usage: cis490-receiver [command] [flags]

commands:
  serve           run the HTTP API (the default)
  fleet-health    check every host's health and raise alerts
  index-backfill  add index rows for stored files that have none
  fsck            check the store against the index
  check-config    parse the config and report errors
  release         keygen, sign and publish signed releases (release help)
  pki init        create the fleet CA and the receiver's server certificate
  host            add, list or revoke lab hosts (host add <host> prints the join command)

common flags: --config F, --data-dir D, --json, --version
`

// Exit codes shared by every command (SPEC §13).
const (
	exitOK       = 0
	exitProblem  = 1
	exitUsage    = 2
	exitConfigEr = 2
)

// run dispatches a command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, stdout, stderr)
	case "fleet-health":
		return runFleetHealth(ctx, args, stdout, stderr)
	case "index-backfill":
		return runBackfill(ctx, args, stdout, stderr)
	case "fsck":
		return runFsck(ctx, args, stdout, stderr)
	case "check-config":
		return runCheckConfig(ctx, args, stdout, stderr)
	case "release":
		return runRelease(ctx, args, stdout, stderr)
	case "pki":
		return runPKI(ctx, args, stdout, stderr)
	case "host":
		return runHost(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "cis490-receiver: unknown command %q\n%s", cmd, usage)
		return exitUsage
	}
}

// commonFlags are the flags every command takes.
type commonFlags struct {
	config  string
	dataDir string
	json    bool
	version bool
}

func newFlagSet(name string, stderr io.Writer, c *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("cis490-receiver "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "", "config file (default "+config.ReceiverPath+" if it exists, else built-in defaults)")
	fs.StringVar(&c.dataDir, "data-dir", "", "data directory (overrides [server] data_dir)")
	fs.BoolVar(&c.json, "json", false, "print one JSON document on stdout")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	return fs
}

// parseFlags parses args; it returns done=true with the exit code when the
// command should stop (usage error, --help, --version).
func parseFlags(fs *flag.FlagSet, args []string, c *commonFlags, stdout io.Writer) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		// The flag package has told stderr. --json may sit after the bad
		// flag: honour it anyway, so a script always gets one JSON document.
		c.json = slices.Contains(args, "--json") || slices.Contains(args, "-json")
		return fail(c, stdout, io.Discard, exitUsage, "usage", err), true
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return fail(c, stdout, io.Discard, exitUsage, "usage", err), true
	}
	if c.version {
		fmt.Fprintln(stdout, buildinfo.String("cis490-receiver"))
		return exitOK, true
	}
	return 0, false
}

// loadConfig resolves the config of SPEC §11 and applies --data-dir.
func loadConfig(c *commonFlags) (config.Receiver, string, error) {
	cfg, used, err := config.ResolveReceiver(c.config)
	if err != nil {
		return cfg, used, err
	}
	if c.dataDir != "" {
		cfg.Server.DataDir = c.dataDir
	}
	return cfg, used, nil
}

// newLogger logs key=value lines without a timestamp: journald adds one.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// fail reports err as the command's outcome: a JSON error document on stdout
// with --json, a line on stderr always.
func fail(c *commonFlags, stdout, stderr io.Writer, code int, kind string, err error) int {
	fmt.Fprintf(stderr, "cis490-receiver: %v\n", err)
	if c.json {
		writeJSONDoc(stdout, map[string]string{"error": kind, "detail": err.Error()})
	}
	return code
}

func writeJSONDoc(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
