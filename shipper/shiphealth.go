package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"cis490/internal/transport"
)

// doctorName is the doctor's binary, looked up beside the shipper first.
const doctorName = "cis490-doctor"

// doctorTimeout bounds one doctor run.
const doctorTimeout = 2 * time.Minute

// runShipHealth runs `cis490-doctor --json` and PUTs its stdout to
// /v1/host-health/<host_id>, whatever the doctor's exit code: a sick host
// must still report. Exit 1 when the doctor cannot run or the receiver
// cannot be reached or refuses.
func (c *cli) runShipHealth(ctx context.Context, args []string) int {
	fs := c.flags("ship-health")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if code, ok := c.loadConfig(); !ok {
		return code
	}
	doctor, err := findDoctor()
	if err != nil {
		return c.fail(exitFailure, "doctor-not-found", err)
	}
	dargs := []string{"--json"}
	if c.configFlag != "" {
		dargs = append(dargs, "--config", c.configFlag)
	}
	dctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	cmd := exec.CommandContext(dctx, doctor, dargs...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = c.stderr
	doctorExit := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || dctx.Err() != nil {
			return c.fail(exitFailure, "doctor-failed", fmt.Errorf("run %s: %w", doctor, err))
		}
		doctorExit = ee.ExitCode()
	}
	client, err := transport.New(c.cfg.Receiver, c.cfg.HostID, c.log)
	if err != nil {
		return c.fail(exitUsage, "config", err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Duration(max(c.cfg.Receiver.TimeoutS, 1))*time.Second)
	defer pcancel()
	if err := client.PutHealth(pctx, c.cfg.HostID, bytes.TrimSpace(out.Bytes())); err != nil {
		return c.fail(exitFailure, transport.Code(err), err)
	}
	if c.json {
		c.printJSON(map[string]any{"status": "stored", "host": c.cfg.HostID, "doctor_exit": doctorExit})
	} else {
		fmt.Fprintf(c.stdout, "host health of %s stored on %s (doctor exit %d)\n", c.cfg.HostID, client.URL(), doctorExit)
	}
	return exitOK
}

// findDoctor returns cis490-doctor beside this executable, else on PATH.
func findDoctor() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), doctorName)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(doctorName)
	if err != nil {
		return "", fmt.Errorf("%s not found beside the shipper nor on PATH: %w", doctorName, err)
	}
	return p, nil
}
