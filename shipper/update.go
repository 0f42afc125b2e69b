package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"cis490/internal/config"
	"cis490/internal/transport"
	"cis490/internal/wire"
	"cis490/shipper/update"
)

// updateHook, when set (crash tests), is called at each recorded step.
var updateHook func(step string)

// runUpdate is `cis490-shipper update [--check] [--now T] [--json]` (SPEC
// §15). Like the installers it honours DESTDIR (every host path under a
// scratch root) and SYSTEMCTL (the systemctl command), so tests run it in a
// scratch root.
func (c *cli) runUpdate(ctx context.Context, args []string) int {
	fs := c.flags("update")
	check := fs.Bool("check", false, "say what would be done, change nothing (no root needed)")
	nowFlag := fs.String("now", "", "the current time, RFC 3339 (tests and what-ifs)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	now := time.Now
	if *nowFlag != "" {
		t, err := wire.ParseTime(*nowFlag)
		if err != nil {
			return c.fail(exitUsage, "usage", fmt.Errorf("--now %q: %w", *nowFlag, err))
		}
		now = func() time.Time { return t }
	}
	if code, ok := c.loadConfig(); !ok {
		return code
	}
	root := strings.TrimSuffix(os.Getenv("DESTDIR"), "/")
	if !*check && root == "" && os.Geteuid() != 0 {
		return c.fail(exitUsage, "usage", errors.New("update installs software: run it as root (sudo cis490-shipper update), or use --check"))
	}
	client, err := transport.New(c.cfg.Receiver, c.cfg.HostID, c.log)
	if err != nil {
		return c.fail(exitUsage, "config", err)
	}
	cfgPath := c.configFlag
	if cfgPath == "" {
		if _, err := os.Stat(config.LabHostPath); err == nil {
			cfgPath = config.LabHostPath
		}
	}
	systemctl := strings.Fields(os.Getenv("SYSTEMCTL"))
	e := &update.Engine{
		Cfg: c.cfg.Update, HostID: c.cfg.HostID, Arch: runtime.GOARCH, ConfigPath: cfgPath,
		Client: client, Root: root, Systemctl: systemctl, Check: *check, Now: now, Log: c.log, Hook: updateHook,
	}
	res := e.Run(ctx)
	if c.json {
		c.printJSON(res.JSON())
	} else {
		c.printUpdate(res)
	}
	return res.ExitCode()
}

func (c *cli) printUpdate(r update.Result) {
	line := r.Status
	switch r.Status {
	case update.StatusCurrent:
		line = fmt.Sprintf("current: %s is installed", orDash(r.Installed))
	case update.StatusWaiting:
		line = fmt.Sprintf("waiting: %s is available, this host is eligible at %s", r.Available, wire.FormatTime(r.EligibleAt))
	case update.StatusEligible:
		line = fmt.Sprintf("eligible: would update %s to %s now", orDash(r.Installed), r.Available)
	case update.StatusUpdated:
		line = fmt.Sprintf("updated: %s is installed", r.Installed)
	case update.StatusOff:
		line = "off: [update] enabled = false"
	}
	if r.Err != "" {
		line += ": " + r.Err
	}
	fmt.Fprintln(c.stdout, line)
	if r.Code.Status != update.CodeOff {
		fmt.Fprintf(c.stdout, "code: %s %s %s\n", r.Code.Status, r.Code.Head, r.Code.Err)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runCheckConfig is `cis490-shipper check-config [--config F] [--json]`: the
// daemon's own parser on the config; exit 0 or 2. `update` runs a new
// release's check-config before installing it.
func (c *cli) runCheckConfig(args []string) int {
	fs := c.flags("check-config")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cfg, used, err := config.ResolveLabHost(c.configFlag)
	if err != nil {
		return c.fail(exitUsage, "config", err)
	}
	if used == "" {
		used = "built-in defaults"
	}
	if c.json {
		c.printJSON(map[string]any{"ok": true, "config": used, "host_id": cfg.HostID})
	} else {
		fmt.Fprintf(c.stdout, "%s: ok (host_id %s)\n", used, cfg.HostID)
	}
	return exitOK
}
