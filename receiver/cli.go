package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"cis490/internal/buildinfo"
	"cis490/internal/cmdline"
	"cis490/internal/config"
	"cis490/internal/wire"
)

const usage = `usage: cis490-receiver [command] [flags]

commands:
  serve           run the HTTP API (the default)
  fleet-health    check every host's health and raise alerts
  fleet           one line per host: version, episodes, attempts, health, alerts
  index-backfill  add index rows for stored files that have none
  fsck            check the store against the index
  replica         replication to object storage: status, verify, restore
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
	case "fleet":
		return runFleet(ctx, args, stdout, stderr)
	case "index-backfill":
		return runBackfill(ctx, args, stdout, stderr)
	case "fsck":
		return runFsck(ctx, args, stdout, stderr)
	case "replica":
		return runReplica(ctx, args, stdout, stderr)
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

// parse parses args (cmdline.Parse); ok is false when the command stops
// there with code: --help, --version, or a usage error, which with --json
// anywhere on the line is also one JSON document on stdout.
func parse(fs *flag.FlagSet, args []string, c *commonFlags, stdout io.Writer) (code int, ok bool) {
	if err := cmdline.Parse(fs, args); err != nil {
		if cmdline.IsHelp(err) {
			return exitOK, false
		}
		if errors.Is(err, cmdline.ErrArgument) {
			fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		} // else the flag package has told stderr
		c.json = c.json || cmdline.WantsJSON(args)
		return fail(c, stdout, io.Discard, exitUsage, "usage", err), false
	}
	if c.version {
		fmt.Fprintln(stdout, buildinfo.String("cis490-receiver"))
		return exitOK, false
	}
	return 0, true
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

// timeFlag holds an RFC 3339 time (SPEC §2), checked while the flags are
// parsed, so a bad one is a usage error like any other flag's.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return wire.FormatTime(f.t)
}

func (f *timeFlag) Set(s string) error {
	t, err := wire.ParseTime(s)
	if err != nil {
		return err
	}
	f.t = t
	return nil
}

// nowFlag adds --now to fs; the returned function gives the instant the
// command evaluates at: --now's, or the clock's when it is unset.
func nowFlag(fs *flag.FlagSet, usage string) func() time.Time {
	f := &timeFlag{}
	fs.Var(f, "now", usage)
	return func() time.Time {
		if f.t.IsZero() {
			return time.Now()
		}
		return f.t
	}
}
