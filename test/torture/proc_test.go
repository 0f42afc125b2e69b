package torture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// notifySeq numbers the abstract notify sockets of this test binary.
var notifySeq atomic.Int64

// proc is one run of a child process. Its stderr is appended to a log file
// that survives restarts, so a failed run can be read afterwards.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // the Wait error, valid after done
	// status receives the STATUS= texts the process sends, newest wins;
	// lastStatus holds it.
	lastStatus atomic.Pointer[string]
	conn       *net.UnixConn
}

// startProc starts argv with its own abstract NOTIFY_SOCKET and stderr
// appended to logPath. When ready is true it returns only after the process
// sent READY=1 (with the STATUS= text sent alongside), or an error when the
// process exits first or ctx ends.
func startProc(ctx context.Context, name, logPath string, env []string, ready bool, argv ...string) (*proc, string, error) {
	sockName := fmt.Sprintf("@cis490-torture-%d-%d", os.Getpid(), notifySeq.Add(1))
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockName, Net: "unixgram"})
	if err != nil {
		return nil, "", fmt.Errorf("%s: notify socket: %w", name, err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		conn.Close()
		return nil, "", err
	}
	fmt.Fprintf(logf, "--- start %s %s\n", name, time.Now().UTC().Format(time.RFC3339Nano))
	p := &proc{name: name, done: make(chan struct{}), conn: conn}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(append(os.Environ(), "NOTIFY_SOCKET="+sockName), env...)
	p.cmd.Stderr = logf
	p.cmd.Stdout = logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		conn.Close()
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		conn.Close() // ends the reader below
		close(p.done)
	}()

	readyCh := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		sentReady := false
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			status := ""
			for _, line := range strings.Split(msg, "\n") {
				if s, ok := strings.CutPrefix(line, "STATUS="); ok {
					status = s
					p.lastStatus.Store(&s)
				}
			}
			if !sentReady && strings.Contains(msg, "READY=1") {
				sentReady = true
				readyCh <- status
			}
		}
	}()
	if !ready {
		return p, "", nil
	}
	select {
	case s := <-readyCh:
		return p, s, nil
	case <-p.done:
		return nil, "", fmt.Errorf("%s exited before READY=1: %v (log %s)", name, p.err, logPath)
	case <-ctx.Done():
		p.kill()
		return nil, "", fmt.Errorf("%s: no READY=1: %w (log %s)", name, ctx.Err(), logPath)
	}
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to grace for the exit, then kills.
// It reports whether the process stopped on its own.
func (p *proc) stop(grace time.Duration) bool {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.kill()
		return false
	}
}

// exitCode is the process's exit status after done: -1 when it died of a
// signal.
func (p *proc) exitCode() int {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}
