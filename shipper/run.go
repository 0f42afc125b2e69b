package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"cis490/internal/buildinfo"
	"cis490/internal/cmdline"
	"cis490/internal/config"
)

// Exit codes (SPEC §13).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2 // usage, config, or the data dir locked by another shipper
	exitQuarantined = 3
)

const usage = `usage:
  cis490-shipper [--config F] [--data-dir D]                  daemon
  cis490-shipper --once [--json] [--config F] [--data-dir D]  one pass
  cis490-shipper --ping [--json] [--commit C] [--config F]    POST /v1/ping
  cis490-shipper quarantine-unstamped [--dry-run] [--json] [--config F] [--data-dir D]
  cis490-shipper ship-health [--json] [--config F]
  cis490-shipper status [--json] [--config F] [--data-dir D]
  cis490-shipper join --url U --token T [--ca-sha256 FP] [--json] [--config F]
  cis490-shipper cert-renew [--force] [--json] [--config F]
  cis490-shipper update [--check] [--now T] [--json] [--config F]
  cis490-shipper check-config [--json] [--config F]
  cis490-shipper --version
`

// cli is what every command shares: its output streams, the --json switch
// and the loaded configuration.
type cli struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	json           bool
	configFlag     string
	dataDirFlag    string
	cfg            config.LabHost
}

// run parses the command line and runs one command; it returns the exit
// code. Everything but main's os.Exit is testable through it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, log: cmdline.NewLogger(stderr)}
	// Known before parsing, so even a usage error is one JSON document.
	c.json = cmdline.WantsJSON(args)
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		return c.runMain(ctx, args)
	case "quarantine-unstamped":
		return c.runUnstamped(args)
	case "ship-health":
		return c.runShipHealth(ctx, args)
	case "status":
		return c.runStatus(args)
	case "join":
		return c.runJoin(ctx, args)
	case "cert-renew":
		return c.runCertRenew(ctx, args)
	case "update":
		return c.runUpdate(ctx, args)
	case "check-config":
		return c.runCheckConfig(args)
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprint(stderr, usage)
	return c.fail(exitUsage, "usage", fmt.Errorf("unknown command %q", cmd))
}

// flags returns a flag set with the flags every command takes.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, usage) }
	fs.StringVar(&c.configFlag, "config", "", "lab host config `file` (default "+config.LabHostPath+" when present)")
	fs.StringVar(&c.dataDirFlag, "data-dir", "", "override [paths] data_dir")
	fs.BoolVar(&c.json, "json", false, "print one JSON document on stdout")
	return fs
}

// parse parses args (cmdline.Parse); ok is false when the command stops
// there with code: --help, or a usage error.
func (c *cli) parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := cmdline.Parse(fs, args); err != nil {
		if cmdline.IsHelp(err) {
			return exitOK, false
		}
		return c.fail(exitUsage, "usage", err), false
	}
	return 0, true
}

// loadConfig resolves the lab host config and applies --data-dir.
func (c *cli) loadConfig() (int, bool) {
	cfg, _, err := config.ResolveLabHost(c.configFlag)
	if err != nil {
		return c.fail(exitUsage, "config", err), false
	}
	if c.dataDirFlag != "" {
		cfg.Paths.DataDir = c.dataDirFlag
	}
	c.cfg = cfg
	return 0, true
}

// fail reports err on stderr, and with --json as {"error","detail"} on
// stdout, and returns code.
func (c *cli) fail(code int, errCode string, err error) int {
	fmt.Fprintf(c.stderr, "cis490-shipper: %v\n", err)
	if c.json {
		c.printJSON(map[string]string{"error": errCode, "detail": err.Error()})
	}
	return code
}

func (c *cli) printJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"internal","detail":"encoding the result failed"}`)
	}
	c.stdout.Write(append(b, '\n'))
}

// runMain is the command without a subcommand: the daemon, --once, --ping
// or --version.
func (c *cli) runMain(ctx context.Context, args []string) int {
	fs := c.flags("cis490-shipper")
	once := fs.Bool("once", false, "run one pass and exit")
	ping := fs.Bool("ping", false, "POST /v1/ping and exit")
	commit := fs.String("commit", "", "with --ping: ask the gate about this commit")
	version := fs.Bool("version", false, "print the version and exit")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *version {
		fmt.Fprintln(c.stdout, buildinfo.String("cis490-shipper"))
		return exitOK
	}
	if *once && *ping {
		return c.fail(exitUsage, "usage", errors.New("--once and --ping exclude each other"))
	}
	if code, ok := c.loadConfig(); !ok {
		return code
	}
	switch {
	case *ping:
		return c.runPing(ctx, *commit)
	case *once:
		return c.runOnce(ctx)
	}
	if c.json {
		return c.fail(exitUsage, "usage", errors.New("--json needs --once or --ping"))
	}
	return c.runDaemon(ctx, os.Getenv)
}
