package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"time"

	fleetpki "cis490/internal/pki"
	"cis490/internal/wire"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// runPKI is `pki init` (SPEC §14): the fleet CA and the receiver's server
// certificate, written once.
func runPKI(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "init" {
		fmt.Fprintf(stderr, "usage: cis490-receiver pki init --name <server name> [--name …] [--json]\n")
		return exitUsage
	}
	var c commonFlags
	fs := newFlagSet("pki init", stderr, &c)
	var names stringList
	fs.Var(&names, "name", "a DNS name or IP address of the receiver (repeat for more)")
	if code, ok := parse(fs, args[1:], &c, stdout); !ok {
		return code
	}
	if len(names) == 0 {
		return fail(&c, stdout, stderr, exitUsage, "usage", errors.New("pki init: at least one --name (the name hosts use to reach the receiver)"))
	}
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, " /,") {
			return fail(&c, stdout, stderr, exitUsage, "usage", fmt.Errorf("pki init: --name %q is not a DNS name or IP address", n))
		}
	}
	cfg, _, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	res, err := fleetpki.Init(cfg.PKI.Dir, names, time.Now(), cfg.Server.DataDir)
	if err != nil {
		kind := "io"
		if errors.Is(err, fleetpki.ErrExists) {
			kind = "exists"
		}
		return fail(&c, stdout, stderr, exitProblem, kind, err)
	}
	if c.json {
		writeJSONDoc(stdout, map[string]any{"dir": res.Dir, "ca_sha256": res.CASHA256,
			"server_names": res.ServerNames, "not_after": wire.FormatTime(res.NotAfter)})
		return exitOK
	}
	fmt.Fprintf(stdout, "fleet CA and server certificate written to %s\n", res.Dir)
	fmt.Fprintf(stdout, "CA fingerprint: %s\n", res.CASHA256)
	fmt.Fprintf(stdout, "server certificate for %s, valid until %s\n", strings.Join(res.ServerNames, ", "), wire.FormatTime(res.NotAfter))
	fmt.Fprintf(stdout, "next: point [tls] at %s/%s, %s/%s and client_ca_file at %s/%s, then `cis490-receiver host add <host>`\n",
		res.Dir, fleetpki.ServerCertFile, res.Dir, fleetpki.ServerKeyFile, res.Dir, fleetpki.CACertFile)
	return exitOK
}
