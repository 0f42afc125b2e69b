package main

import (
	"context"
	"fmt"
	"time"

	"cis490/internal/transport"
	"cis490/internal/wire"
)

// pingReply is the --ping --json document: the receiver's reply and where
// it came from.
type pingReply struct {
	wire.PingReply
	Receiver string `json:"receiver"`
}

// runPing POSTs /v1/ping: exit 0 when the receiver accepts this host's
// credentials, 1 when it cannot be reached or refuses (SPEC §8.2).
func (c *cli) runPing(ctx context.Context, commit string) int {
	if commit != "" {
		norm, ok := wire.NormalizeCommit(commit)
		if !ok {
			return c.fail(exitUsage, "usage", fmt.Errorf("--commit %q is not 40 hex digits", commit))
		}
		commit = norm
	}
	client, err := transport.New(c.cfg.Receiver, c.cfg.HostID, c.log)
	if err != nil {
		return c.fail(exitUsage, "config", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Duration(max(c.cfg.Receiver.TimeoutS, 1))*time.Second)
	defer cancel()
	reply, err := client.Ping(ctx, commit)
	if err != nil {
		return c.fail(exitFailure, transport.Code(err), fmt.Errorf("ping %s: %w", client.URL(), err))
	}
	if c.json {
		c.printJSON(pingReply{PingReply: reply, Receiver: client.URL()})
		return exitOK
	}
	fmt.Fprintf(c.stdout, "ok: %s answered as host %s (receiver %s)", client.URL(), reply.Host, reply.Version)
	if reply.Gate != "" {
		fmt.Fprintf(c.stdout, ", gate %s", reply.Gate)
	}
	fmt.Fprintln(c.stdout)
	return exitOK
}
