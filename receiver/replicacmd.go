package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"cis490/internal/config"
	"cis490/internal/s3"
	"cis490/receiver/replica"
	"cis490/receiver/store"
)

const replicaUsage = `usage: cis490-receiver replica status|verify|restore [flags]

  status   what is replicated, pending and the last error (SPEC §17)
  verify   read the bucket back and compare it with the index (exit 1 on problems)
  restore  rebuild store/ and index.jsonl from the bucket (receiver stopped)
`

// runReplica dispatches the replica subcommands.
func runReplica(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, replicaUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "status":
		return runReplicaStatus(ctx, args[1:], stdout, stderr)
	case "verify":
		return runReplicaVerify(ctx, args[1:], stdout, stderr)
	case "restore":
		return runReplicaRestore(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "cis490-receiver replica: unknown command %q\n%s", args[0], replicaUsage)
	return exitUsage
}

var errNoReplica = errors.New("replication is not configured ([replica] endpoint is empty)")

// replicaConfig loads the config of a replica command that talks to the
// bucket and makes its client; any error is a config error (exit 2).
func replicaConfig(c *commonFlags) (config.Receiver, *s3.Client, error) {
	cfg, _, err := loadConfig(c)
	if err != nil {
		return cfg, nil, err
	}
	if !cfg.Replica.Enabled() {
		return cfg, nil, errNoReplica
	}
	client, err := replica.NewClient(cfg.Replica)
	return cfg, client, err
}

// runReplicaStatus is `replica status [--json]`: exit 0, 1 on an I/O error,
// 2 on a config error.
func runReplicaStatus(_ context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("replica status", stderr, &c)
	now := nowFlag(fs, "judge ages at this RFC 3339 `time` instead of the clock")
	if code, ok := parse(fs, args, &c, stdout); !ok {
		return code
	}
	cfg, _, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	if !cfg.Replica.Enabled() {
		return fail(&c, stdout, stderr, exitConfigEr, "config", errNoReplica)
	}
	st, err := replica.DiskStatus(cfg.Server.DataDir, now())
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	if c.json {
		writeJSONDoc(stdout, st)
		return exitOK
	}
	fmt.Fprintf(stdout, "bucket:     %s (%s)\n", cfg.Replica.Bucket, cfg.Replica.Endpoint)
	fmt.Fprintf(stdout, "replicated: %d\n", st.Replicated)
	fmt.Fprintf(stdout, "pending:    %d (%d bytes)", st.Pending, st.PendingBytes)
	if st.Pending > 0 {
		fmt.Fprintf(stdout, ", oldest received %s ago", time.Duration(st.OldestPendingAgeS)*time.Second)
	}
	fmt.Fprintln(stdout)
	if e := st.LastError; e != nil {
		fmt.Fprintf(stdout, "last error: %s %s %s\n", e.At, e.Kind, e.Detail)
	} else {
		fmt.Fprintln(stdout, "last error: none")
	}
	return exitOK
}

// runReplicaVerify is `replica verify [--json]`: exit 0 clean, 1 problems
// (or the bucket could not be read), 2 config.
func runReplicaVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("replica verify", stderr, &c)
	if code, ok := parse(fs, args, &c, stdout); !ok {
		return code
	}
	cfg, client, err := replicaConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	rep, err := replica.Verify(ctx, client, cfg.Server.DataDir, cfg.Replica.Prefix, max(cfg.Replica.Concurrency, 2))
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "store", err)
	}
	if c.json {
		writeJSONDoc(stdout, rep)
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "%-15s %s %s\n", p.Kind, p.Key, p.Detail)
		}
		fmt.Fprintf(stdout, "verify: %d object(s), %d episode(s) read back, %d pending, %d problem(s)\n",
			rep.Objects, rep.Checked, rep.Pending, len(rep.Problems))
	}
	if !rep.OK {
		return exitProblem
	}
	return exitOK
}

// runReplicaRestore is `replica restore [--json]`: with the receiver
// stopped, rebuild store/ and index.jsonl from the bucket. Exit 0 when
// everything the day objects name came back, 1 otherwise, 2 config.
func runReplicaRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("replica restore", stderr, &c)
	if code, ok := parse(fs, args, &c, stdout); !ok {
		return code
	}
	cfg, client, err := replicaConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	unlock, err := store.Lock(cfg.Server.DataDir)
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "locked", fmt.Errorf("%w (stop the receiver before a restore)", err))
	}
	defer unlock()
	st, _, err := store.Open(cfg.Server.DataDir, store.Options{})
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "io", err)
	}
	defer st.Close()
	rep, err := replica.Restore(ctx, client, st, cfg.Replica.Prefix, time.Now)
	if err != nil {
		return fail(&c, stdout, stderr, exitProblem, "store", err)
	}
	if c.json {
		writeJSONDoc(stdout, rep)
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "%-15s %s %s\n", p.Kind, p.Key, p.Detail)
		}
		fmt.Fprintf(stdout, "restore: %d episode(s) restored, %d already here, %d problem(s)\n", rep.Restored, rep.Present, len(rep.Problems))
	}
	if len(rep.Problems) > 0 {
		return exitProblem
	}
	return exitOK
}
