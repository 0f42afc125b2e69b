package torture

import (
	"context"
	"fmt"
	"os"
	"time"

	"cis490/internal/testutil"
)

// proc is one run of a child process (testutil.Proc). Its stdout and stderr
// are appended to a log file that survives restarts, so a failed run can be
// read afterwards.
type proc struct {
	*testutil.Proc
	done <-chan struct{} // closed when the process has exited and been reaped
}

// startProc starts argv with its own abstract NOTIFY_SOCKET and its output
// appended to logPath. When ready is true it returns only after the process
// sent READY=1 (with the STATUS= text sent alongside), or an error when the
// process exits first or ctx ends.
func startProc(ctx context.Context, name, logPath string, env []string, ready bool, argv ...string) (*proc, string, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(logf, "--- start %s %s\n", name, time.Now().UTC().Format(time.RFC3339Nano))
	tp, err := testutil.Start(name, env, logf, logf, argv...)
	if err != nil {
		logf.Close()
		return nil, "", err
	}
	go func() { <-tp.Done(); logf.Close() }()
	p := &proc{Proc: tp, done: tp.Done()}
	if !ready {
		return p, "", nil
	}
	status, err := p.WaitReady(ctx)
	if err != nil {
		p.Kill()
		return nil, "", fmt.Errorf("%w (log %s)", err, logPath)
	}
	return p, status, nil
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *proc) kill() { p.Kill() }

// stop sends SIGTERM and waits up to grace for the exit, then kills.
// It reports whether the process stopped on its own.
func (p *proc) stop(grace time.Duration) bool { return p.Stop(grace) }

// exitCode is the process's exit status after done: -1 when it died of a
// signal.
func (p *proc) exitCode() int { return p.ExitCode() }
