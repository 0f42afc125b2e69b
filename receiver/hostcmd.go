package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"cis490/internal/cmdline"
	"cis490/internal/config"
	fleetpki "cis490/internal/pki"
	"cis490/internal/wire"
	"cis490/receiver/registry"
)

const hostUsage = `usage:
  cis490-receiver host add <host> [--ttl 24h] [--json]   open a join for host and print the command to run there
  cis490-receiver host list [--json]                     hosts of the registry and of [auth.hosts]
  cis490-receiver host revoke <host> [--json]            refuse every request naming host (403 host-revoked)
common flags: --config F, --data-dir D
`

// runHost is `host add|list|revoke` (SPEC §14): exit 0 ok, 1 unknown host or
// I/O error, 2 usage or config.
func runHost(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, hostUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	var c commonFlags
	fs := newFlagSet("host "+sub, stderr, &c)
	fs.Usage = func() { fmt.Fprint(stderr, hostUsage) }
	var ttl time.Duration
	wantHost := true
	switch sub {
	case "add":
		fs.DurationVar(&ttl, "ttl", 0, "how long the join secret stays valid (default [pki] join_ttl_s)")
	case "revoke":
	case "list":
		wantHost = false
	default:
		fmt.Fprintf(stderr, "cis490-receiver host: unknown command %q\n%s", sub, hostUsage)
		return exitUsage
	}
	host, code, ok := parseWithHost(fs, args, &c, stdout, wantHost)
	if !ok {
		return code
	}
	if wantHost && !wire.ValidHost(host) {
		return fail(&c, stdout, stderr, exitUsage, "usage", fmt.Errorf("host %s: %q is not a valid host id", sub, host))
	}
	cfg, _, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	switch sub {
	case "add":
		if ttl == 0 {
			ttl = time.Duration(cfg.PKI.JoinTTLS) * time.Second
		}
		if ttl < time.Minute || ttl > 30*24*time.Hour {
			return fail(&c, stdout, stderr, exitUsage, "usage", fmt.Errorf("host add: --ttl %s is not between 1m and 720h", ttl))
		}
		return hostAdd(&c, cfg, host, ttl, stdout, stderr)
	case "revoke":
		return hostRevoke(&c, cfg, host, stdout, stderr)
	}
	return hostList(&c, cfg, stdout, stderr)
}

// parseWithHost parses flags before and after one positional host id; ok
// is false when the command stops there with code (see parse).
func parseWithHost(fs *flag.FlagSet, args []string, c *commonFlags, stdout io.Writer, wantHost bool) (host string, code int, ok bool) {
	if !wantHost {
		code, ok = parse(fs, args, c, stdout)
		return "", code, ok
	}
	if err := fs.Parse(args); err != nil {
		if cmdline.IsHelp(err) {
			return "", exitOK, false
		}
		c.json = c.json || cmdline.WantsJSON(args)
		return "", fail(c, stdout, io.Discard, exitUsage, "usage", err), false
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(fs.Output(), "%s: missing the host id\n", fs.Name())
		c.json = c.json || cmdline.WantsJSON(args)
		return "", fail(c, stdout, io.Discard, exitUsage, "usage", errors.New("missing the host id")), false
	}
	host = fs.Arg(0)
	code, ok = parse(fs, fs.Args()[1:], c, stdout)
	return host, code, ok
}

// caFingerprint returns the fleet CA's pin, or "" when there is no CA.
func caFingerprint(cfg config.Receiver) (string, error) {
	b, err := os.ReadFile(cfg.PKI.CACert())
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("fleet CA: %w", err)
	}
	cert, err := fleetpki.ParseCert(b)
	if err != nil {
		return "", fmt.Errorf("fleet CA %s: %w", cfg.PKI.CACert(), err)
	}
	return fleetpki.Fingerprint(cert.Raw), nil
}

// publicURL is [pki] public_url, else a URL made of [server] listen: the
// machine's hostname for a wildcard address, https when [tls] is set.
func publicURL(cfg config.Receiver) string {
	if cfg.PKI.PublicURL != "" {
		return strings.TrimSuffix(cfg.PKI.PublicURL, "/")
	}
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	h, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return scheme + "://" + cfg.Server.Listen
	}
	if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil {
			h = name
		}
	}
	return scheme + "://" + net.JoinHostPort(h, port)
}

// JoinSitePort is the port of the join-only site of etc/Caddyfile.example:
// behind Caddy (client_subject_header set) hosts join there, without a
// client certificate, and ship to public_url.
const JoinSitePort = "8444"

// joinURL is where a host sends its join: public_url, or behind Caddy the
// join-only site on the same name.
func joinURL(cfg config.Receiver) string {
	pub := publicURL(cfg)
	if cfg.Auth.ClientSubjectHeader == "" {
		return pub
	}
	u, err := url.Parse(pub)
	if err != nil {
		return pub
	}
	u.Host = net.JoinHostPort(u.Hostname(), JoinSitePort)
	return u.String()
}

// addResult is `host add --json`.
type addResult struct {
	Host      string  `json:"host"`
	JoinToken string  `json:"join_token"`
	ExpiresAt string  `json:"expires_at"`
	CASHA256  *string `json:"ca_sha256"`
	Command   string  `json:"command"`
}

func hostAdd(c *commonFlags, cfg config.Receiver, host string, ttl time.Duration, stdout, stderr io.Writer) int {
	fp, err := caFingerprint(cfg)
	if err != nil {
		return fail(c, stdout, stderr, exitProblem, "io", err)
	}
	e, secret, err := registry.Add(cfg.Server.DataDir, host, ttl, time.Now())
	if err != nil {
		return fail(c, stdout, stderr, exitProblem, "io", err)
	}
	// Printed only once the entry is on disk: a secret shown is a secret
	// that works.
	cmd := fmt.Sprintf("sudo cis490-shipper join --url %s --token %s", joinURL(cfg), secret)
	res := addResult{Host: host, JoinToken: secret, ExpiresAt: wire.FormatTime(e.JoinExpiresAt.Time), Command: cmd}
	if fp != "" {
		res.Command += " --ca-sha256 " + fp
		res.CASHA256 = &fp
	}
	if c.json {
		writeJSONDoc(stdout, res)
		return exitOK
	}
	fmt.Fprintf(stdout, "join secret for %s, valid until %s (shown only this once):\n  %s\n", host, res.ExpiresAt, secret)
	fmt.Fprintf(stdout, "run on %s:\n  %s\n", host, res.Command)
	fmt.Fprintf(stdout, "on a fresh host, from the unpacked release:\n  sudo ./scripts/install-lab-host.sh --join %s %s", joinURL(cfg), secret)
	if fp != "" {
		fmt.Fprintf(stdout, " --ca-sha256 %s", fp)
	}
	fmt.Fprintf(stdout, " --host-id %s\n", host)
	if fp == "" {
		fmt.Fprintln(stdout, "note: no fleet CA (cis490-receiver pki init): the join issues a token only")
	}
	return exitOK
}

// revokeResult is `host revoke --json`.
type revokeResult struct {
	Host      string `json:"host"`
	RevokedAt string `json:"revoked_at"`
}

func hostRevoke(c *commonFlags, cfg config.Receiver, host string, stdout, stderr io.Writer) int {
	_, inConfig := cfg.Auth.Hosts[host]
	e, err := registry.Revoke(cfg.Server.DataDir, host, time.Now(), inConfig)
	if err != nil {
		kind := "io"
		if errors.Is(err, registry.ErrUnknownHost) {
			kind = "unknown-host"
		}
		return fail(c, stdout, stderr, exitProblem, kind, err)
	}
	res := revokeResult{Host: host, RevokedAt: wire.FormatTime(e.RevokedAt.Time)}
	if c.json {
		writeJSONDoc(stdout, res)
		return exitOK
	}
	fmt.Fprintf(stdout, "%s revoked at %s: every request naming it is refused (403 host-revoked) within 2 s\n", host, res.RevokedAt)
	if inConfig {
		fmt.Fprintf(stdout, "note: %s also has an [auth.hosts] token in the config; remove it there too\n", host)
	}
	fmt.Fprintf(stdout, "to let it join again: cis490-receiver host add %s\n", host)
	return exitOK
}

// listRow is one host of `host list --json`.
type listRow struct {
	Host         string  `json:"host"`
	Source       string  `json:"source"`
	AddedAt      *string `json:"added_at"`
	JoinedAt     *string `json:"joined_at"`
	CertNotAfter *string `json:"cert_not_after"`
	RevokedAt    *string `json:"revoked_at"`
}

// listProblem is a registry file `host list` could not read.
type listProblem struct {
	File   string `json:"file"`
	Detail string `json:"detail"`
}

func fmtTime(t *registry.Time) *string {
	if t == nil {
		return nil
	}
	s := wire.FormatTime(t.Time)
	return &s
}

func hostList(c *commonFlags, cfg config.Receiver, stdout, stderr io.Writer) int {
	entries, problems, err := registry.List(cfg.Server.DataDir)
	if err != nil {
		return fail(c, stdout, stderr, exitProblem, "io", err)
	}
	rows := []listRow{}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Host] = true
		rows = append(rows, listRow{Host: e.Host, Source: "registry", AddedAt: fmtTime(e.AddedAt), JoinedAt: fmtTime(e.JoinedAt),
			CertNotAfter: fmtTime(e.CertNotAfter), RevokedAt: fmtTime(e.RevokedAt)})
	}
	for h := range cfg.Auth.Hosts {
		if !seen[h] {
			rows = append(rows, listRow{Host: h, Source: "config"})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Host < rows[j].Host })
	var probs []listProblem
	for _, p := range problems {
		probs = append(probs, listProblem{File: p.File, Detail: p.Detail})
		fmt.Fprintf(stderr, "cis490-receiver: %s: %s (requests naming this host are refused until it is fixed)\n", p.File, p.Detail)
	}
	code := exitOK
	if len(probs) > 0 {
		code = exitProblem
	}
	if c.json {
		doc := map[string]any{"hosts": rows}
		if len(probs) > 0 {
			doc["problems"] = probs
		}
		writeJSONDoc(stdout, doc)
		return code
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSOURCE\tADDED\tJOINED\tCERT NOT AFTER\tREVOKED")
	dash := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Host, r.Source, dash(r.AddedAt), dash(r.JoinedAt), dash(r.CertNotAfter), dash(r.RevokedAt))
	}
	tw.Flush()
	return code
}
