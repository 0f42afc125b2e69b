package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/release"
	"cis490/internal/wire"
	"cis490/receiver/releases"
)

const releaseUsage = `usage:
  cis490-receiver release keygen --out DIR [--json]
  cis490-receiver release sign --key K [--seq N] [--expires 90d] [--start T] [--rollout-hours 24] [--json] DIR
  cis490-receiver release publish DIR [--config F] [--data-dir D] [--json]
`

// runRelease dispatches `release keygen|sign|publish` (SPEC §15). keygen and
// sign run anywhere (the operator's laptop); publish runs on the Pi.
func runRelease(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, releaseUsage)
		return exitUsage
	}
	switch args[0] {
	case "keygen":
		return runReleaseKeygen(args[1:], stdout, stderr)
	case "sign":
		return runReleaseSign(args[1:], stdout, stderr, time.Now)
	case "publish":
		return runReleasePublish(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, releaseUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "cis490-receiver release: unknown command %q\n%s", args[0], releaseUsage)
	return exitUsage
}

// parseInterleaved parses flags that may come before or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func releaseFlags(name string, stderr io.Writer, c *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("cis490-receiver release "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, releaseUsage) }
	fs.BoolVar(&c.json, "json", false, "print one JSON document on stdout")
	return fs
}

func usageErr(c *commonFlags, stdout, stderr io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return fail(c, stdout, stderr, exitUsage, "usage", err)
}

func runReleaseKeygen(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := releaseFlags("keygen", stderr, &c)
	out := fs.String("out", "", "directory for release.key and release.pub")
	pos, err := parseInterleaved(fs, args)
	if err == nil && (len(pos) > 0 || *out == "") {
		err = errors.New("keygen takes --out DIR and no arguments")
	}
	if err != nil {
		return usageErr(&c, stdout, stderr, err)
	}
	keyPath, pubPath := filepath.Join(*out, release.PrivateKeyFile), filepath.Join(*out, release.PublicKeyFile)
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fail(&c, stdout, stderr, exitProblem, "exists", fmt.Errorf("%s exists: keygen never overwrites a key", p))
		}
	}
	priv, pub, err := release.GenerateKey()
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	if err := writeNew(keyPath, priv, 0o600); err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	if err := writeNew(pubPath, pub, 0o644); err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	if c.json {
		writeJSONDoc(stdout, map[string]string{"private_key": keyPath, "public_key": pubPath})
	} else {
		fmt.Fprintf(stdout, "wrote %s (keep it off the receiver; back it up offline)\nwrote %s (copy it to the receiver and every lab host as /etc/cis490/release.pub)\n", keyPath, pubPath)
	}
	return exitOK
}

// writeNew durably writes a file that must not exist yet.
func writeNew(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return atomicio.LinkNoReplace(tmp, path)
}

// parseDays reads "90d" as days, or a Go duration.
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 || n > 3650 {
			return 0, fmt.Errorf("%q: want a number of days such as 90d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur <= 0 {
		return 0, fmt.Errorf("%q: want 90d or a Go duration", s)
	}
	return dur, nil
}

func runReleaseSign(args []string, stdout, stderr io.Writer, now func() time.Time) int {
	var c commonFlags
	fs := releaseFlags("sign", stderr, &c)
	key := fs.String("key", "", "the release private key (release.key)")
	seq := fs.Int64("seq", 0, "release sequence number (default: Unix seconds now)")
	expires := fs.String("expires", "90d", "how long the signed manifest stays valid")
	start := fs.String("start", "", "rollout start, RFC 3339 (default: now)")
	hours := fs.Int("rollout-hours", 24, "hours over which hosts become eligible")
	pos, err := parseInterleaved(fs, args)
	if err == nil && (len(pos) != 1 || *key == "") {
		err = errors.New("sign takes --key K and one release directory")
	}
	var ttl time.Duration
	if err == nil {
		ttl, err = parseDays(*expires)
	}
	t := now().UTC()
	startAt := t
	if err == nil && *start != "" {
		startAt, err = wire.ParseTime(*start)
	}
	if err == nil && (*hours < 0 || *hours > 24*365) {
		err = fmt.Errorf("--rollout-hours %d is not in 0..8760", *hours)
	}
	if err == nil && *seq < 0 {
		err = fmt.Errorf("--seq %d is negative", *seq)
	}
	if err != nil {
		return usageErr(&c, stdout, stderr, err)
	}
	if *seq == 0 {
		*seq = t.Unix()
	}
	kb, err := os.ReadFile(*key)
	if err != nil {
		return fail(&c, stdout, stderr, exitUsage, "config", err)
	}
	priv, err := release.ParsePrivateKey(kb)
	if err != nil {
		return fail(&c, stdout, stderr, exitUsage, "config", fmt.Errorf("%s: %w", *key, err))
	}
	dir := pos[0]
	mpath := filepath.Join(dir, release.ManifestFile)
	mb, err := os.ReadFile(mpath)
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	m, err := release.Parse(mb)
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "bad-manifest", fmt.Errorf("%s: %w", mpath, err))
	}
	m.Seq = *seq
	m.ExpiresAt = wire.FormatTime(t.Add(ttl))
	m.Rollout = &release.Rollout{StartAt: wire.FormatTime(startAt), Hours: *hours}
	out := m.Encode()
	if err := atomicio.WriteFile(mpath, out, 0o644); err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	if err := atomicio.WriteFile(filepath.Join(dir, release.SignatureFile), release.Sign(priv, out), 0o644); err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	if c.json {
		writeJSONDoc(stdout, m)
	} else {
		fmt.Fprintf(stdout, "signed %s: version %s seq %d expires %s rollout from %s over %dh\n",
			mpath, m.Version, m.Seq, m.ExpiresAt, m.Rollout.StartAt, m.Rollout.Hours)
	}
	return exitOK
}

func runReleasePublish(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := releaseFlags("publish", stderr, &c)
	fs.StringVar(&c.config, "config", "", "config file")
	fs.StringVar(&c.dataDir, "data-dir", "", "data directory (overrides [server] data_dir)")
	pos, err := parseInterleaved(fs, args)
	if err == nil && len(pos) != 1 {
		err = errors.New("publish takes one release directory")
	}
	if err != nil {
		return usageErr(&c, stdout, stderr, err)
	}
	cfg, _, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	pub, err := release.LoadPublicKey(cfg.Releases.PublicKeyFile)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", fmt.Errorf("%w (set [releases] public_key_file)", err))
	}
	m, err := releases.Open(cfg.Server.DataDir).Publish(pos[0], pub, time.Now())
	if err != nil {
		kind := "io"
		switch {
		case errors.Is(err, release.ErrBadSignature):
			kind = "bad-signature"
		case errors.Is(err, release.ErrBadManifest):
			kind = "bad-manifest"
		case errors.Is(err, releases.ErrNotNewer):
			kind = "not-newer"
		case errors.Is(err, releases.ErrExpired):
			kind = "expired"
		case errors.Is(err, releases.ErrBadArtifact):
			kind = "bad-artifact"
		}
		return fail(&c, stdout, stderr, exitProblem, kind, fmt.Errorf("publish %s: %w", pos[0], err))
	}
	if c.json {
		writeJSONDoc(stdout, map[string]any{"status": "published", "version": m.Version, "seq": m.Seq,
			"expires_at": m.ExpiresAt, "rollout": m.Rollout, "artifacts": m.Artifacts})
	} else {
		fmt.Fprintf(stdout, "published %s (seq %d): hosts become eligible from %s over %dh; expires %s\n",
			m.Version, m.Seq, m.Rollout.StartAt, m.Rollout.Hours, m.ExpiresAt)
	}
	return exitOK
}
