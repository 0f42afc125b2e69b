package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cis490/internal/enroll"
	"cis490/internal/transport"
	"cis490/internal/wire"
)

// runJoin is `join --url U --token T [--ca-sha256 FP] [--json]` (SPEC §14):
// exit 0 joined, 1 unreachable or refused, 2 usage or config.
func (c *cli) runJoin(ctx context.Context, args []string) int {
	fs := c.flags("join")
	u := fs.String("url", "", "the receiver's URL, as printed by `cis490-receiver host add`")
	secret := fs.String("token", "", "the join secret printed by `cis490-receiver host add`")
	pin := fs.String("ca-sha256", "", "the fleet CA's fingerprint, sha256:<64 hex>")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *u == "" || *secret == "" {
		return c.fail(exitUsage, "usage", errors.New("join needs --url and --token (the line `cis490-receiver host add` prints)"))
	}
	if code, ok := c.loadConfig(); !ok {
		return code
	}
	res, err := enroll.Join(ctx, enroll.JoinOptions{URL: *u, Secret: *secret, Pin: *pin, Config: c.cfg,
		Timeout: time.Duration(c.cfg.Receiver.TimeoutS) * time.Second, Log: c.log})
	if err != nil {
		code := "join-failed"
		var we *wire.Error
		switch {
		case errors.Is(err, enroll.ErrConfig):
			return c.fail(exitUsage, "config", err)
		case errors.Is(err, enroll.ErrPinMismatch):
			code = "ca-mismatch"
		case errors.As(err, &we):
			code = we.Code
		}
		return c.fail(exitFailure, code, err)
	}
	if c.json {
		c.printJSON(res)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "joined %s as %s\n", res.URL, res.Host)
	if res.NotAfter != nil {
		fmt.Fprintf(c.stdout, "certificate valid until %s, renewed after %s by cis490-cert-renew.timer\n", *res.NotAfter, *res.RenewAfter)
	}
	fmt.Fprintf(c.stdout, "wrote %s\n", strings.Join(res.Files, ", "))
	return exitOK
}

// runCertRenew is `cert-renew [--force] [--json]` (SPEC §14): exit 0 renewed
// or not due, 1 transient, 2 config, 3 refused (the operator must act).
func (c *cli) runCertRenew(ctx context.Context, args []string) int {
	fs := c.flags("cert-renew")
	force := fs.Bool("force", false, "renew now, even before renew_after")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if code, ok := c.loadConfig(); !ok {
		return code
	}
	client, err := transport.New(c.cfg.Receiver, c.cfg.HostID, c.log)
	if err != nil {
		return c.fail(exitUsage, "config", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Duration(max(c.cfg.Receiver.TimeoutS, 1))*time.Second)
	defer cancel()
	res, err := enroll.Renew(ctx, c.cfg, *force, time.Now(), client.RenewCert)
	code := exitOK
	switch {
	case err == nil:
	case errors.Is(err, enroll.ErrConfig):
		return c.fail(exitUsage, "config", err)
	case errors.Is(err, enroll.ErrRefused):
		code = exitQuarantined // 3: refused, the operator must act
	default:
		code = exitFailure
	}
	if err != nil {
		msg := err.Error()
		res.Error = &msg
		c.log.Error("certificate renewal failed", "error", msg)
	}
	if c.json {
		c.printJSON(res)
		return code
	}
	switch res.Status {
	case enroll.StatusRenewed:
		fmt.Fprintf(c.stdout, "renewed: valid until %s, next renewal after %s\n", *res.NotAfter, *res.RenewAfter)
	case enroll.StatusNotDue:
		fmt.Fprintf(c.stdout, "not due: renewal after %s (certificate valid until %s)\n", *res.RenewAfter, *res.NotAfter)
	default:
		fmt.Fprintf(c.stdout, "failed: %s\n", *res.Error)
	}
	return code
}
