package fleethealth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"cis490/internal/jsonl"
	"cis490/receiver/datadir"
)

// notifyTimeout bounds one run of notify_command (SPEC §10).
var notifyTimeout = 10 * time.Second

// record splits found into alerts already raised this hour and new ones,
// appends the new ones to alerts.jsonl, and announces each with a warning
// line and notify_command. It returns every finding in found's order.
func record(ctx context.Context, o Options, found []finding) ([]Finding, error) {
	bucket := Bucket(o.Now)
	seen, err := readAlerts(o.DataDir, bucket, o.Now.Truncate(time.Hour).Add(-Slack))
	if err != nil {
		return nil, err
	}
	now := formatTS(o.Now)
	out := make([]Finding, 0, len(found))
	var fresh []alertRow
	for _, f := range found {
		ts, dup := seen[key{f.host, f.symptom}]
		if !dup {
			ts = now
			fresh = append(fresh, alertRow{TS: now, Host: f.host, Symptom: f.symptom, Detail: f.detail, Bucket: bucket})
		}
		out = append(out, Finding{Host: f.host, Symptom: f.symptom, Detail: f.detail, Bucket: bucket, TS: ts, New: !dup})
	}
	if len(fresh) == 0 {
		return out, nil
	}

	path := datadir.New(o.DataDir).Alerts()
	// A crash mid-append leaves a torn line that the next row would be glued to.
	if _, err := jsonl.RepairTorn(path); err != nil {
		return nil, fmt.Errorf("repair %s: %w", path, err)
	}
	app, err := jsonl.OpenAppender(path)
	if err != nil {
		return nil, err
	}
	defer app.Close()
	for _, a := range fresh {
		line, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("alert %s %s: %w", a.Host, a.Symptom, err)
		}
		line = append(line, '\n')
		// Durable first: an alert announced but not recorded would be
		// announced again on the next run.
		if err := app.AppendLine(line); err != nil {
			return nil, err
		}
		if o.Warn != nil {
			fmt.Fprint(o.Warn, WarningLine(a.Host, a.Symptom, a.Detail, o.Journal))
		}
		if o.Config.NotifyCommand != "" {
			if err := notify(ctx, o, a, line); err != nil {
				o.Logger.Warn("fleet-health: notify_command failed", "host", a.Host, "symptom", a.Symptom, "error", err)
			}
		}
	}
	return out, nil
}

// WarningLine returns the line logged for a new alert, with the journald
// warning priority prefix <4> when journal is set (SPEC §10).
func WarningLine(host, symptom, detail string, journal bool) string {
	prefix := ""
	if journal {
		prefix = "<4>"
	}
	return fmt.Sprintf("%sfleet-health: host=%s symptom=%s detail=%s\n", prefix, host, symptom, strconv.Quote(detail))
}

// notify runs notify_command with /bin/sh -c, the alert's JSON line on stdin
// and the alert's host and symptom in the environment. The whole process
// group is killed when the time limit passes.
func notify(ctx context.Context, o Options, a alertRow, line []byte) error {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", o.Config.NotifyCommand)
	cmd.Stdin = bytes.NewReader(line)
	if o.NotifyOutput != nil {
		cmd.Stdout, cmd.Stderr = o.NotifyOutput, o.NotifyOutput
	}
	cmd.Env = append(os.Environ(),
		"CIS490_ALERT_HOST="+a.Host,
		"CIS490_ALERT_SYMPTOM="+a.Symptom,
		"CIS490_ALERT_BUCKET="+a.Bucket,
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("notify_command: killed after %s: %w", notifyTimeout, err)
		}
		return fmt.Errorf("notify_command: %w", err)
	}
	return nil
}
