package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// NotifySocket is a unixgram socket standing in for systemd's: a child
// given Name as NOTIFY_SOCKET sends its READY=1, STATUS= and WATCHDOG=1
// datagrams to it.
type NotifySocket struct {
	Conn *net.UnixConn
	Name string // the NOTIFY_SOCKET value
}

var notifySeq atomic.Int64

// ListenNotify opens a notify socket, closed when the test ends: an
// abstract one ("@…") or a path under the test's temp directory.
func ListenNotify(tb testing.TB, abstract bool) *NotifySocket {
	tb.Helper()
	s, err := listenNotify(abstract, tb.TempDir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Conn.Close() })
	return s
}

func listenNotify(abstract bool, tempDir func() string) (*NotifySocket, error) {
	name := fmt.Sprintf("@cis490-test-%d-%d", os.Getpid(), notifySeq.Add(1))
	addr := "\x00" + name[1:]
	if !abstract {
		name = filepath.Join(tempDir(), "notify.sock")
		addr = name
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	return &NotifySocket{Conn: c, Name: name}, nil
}

// Next returns the next datagram. The deadline only guards against a hung
// test; it is not a synchronisation device.
func (s *NotifySocket) Next(tb testing.TB) string {
	tb.Helper()
	buf := make([]byte, 4096)
	s.Conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := s.Conn.Read(buf)
	if err != nil {
		tb.Fatalf("notify socket: %v", err)
	}
	return string(buf[:n])
}

// Proc is a child process started with a notify socket of its own, so a
// test can wait for its READY=1 instead of sleeping, read its STATUS=, and
// kill or stop it at any instant.
type Proc struct {
	Name string
	Cmd  *exec.Cmd

	sock *NotifySocket
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // Wait's error, valid after done

	mu      sync.Mutex
	msgs    []string      // every datagram received, in order
	seen    int           // msgs[:seen] were consumed by WaitNotify
	arrived chan struct{} // closed and replaced on every datagram
	status  string        // the newest STATUS= text
}

// Start starts argv as name with env appended to the test's environment
// and NOTIFY_SOCKET pointing at a fresh abstract socket; stdout and stderr go
// to the given writers (nil discards). It does not wait for READY=1.
func Start(name string, env []string, stdout, stderr io.Writer, argv ...string) (*Proc, error) {
	sock, err := listenNotify(true, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: exec.Command(argv[0], argv[1:]...), sock: sock,
		done: make(chan struct{}), arrived: make(chan struct{})}
	p.Cmd.Env = append(append(os.Environ(), "NOTIFY_SOCKET="+sock.Name), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = stdout, stderr
	if err := p.Cmd.Start(); err != nil {
		sock.Conn.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		sock.Conn.Close() // ends the reader below
		close(p.done)
	}()
	go p.read()
	return p, nil
}

func (p *Proc) read() {
	buf := make([]byte, 4096)
	for {
		n, err := p.sock.Conn.Read(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		p.mu.Lock()
		p.msgs = append(p.msgs, msg)
		for _, line := range strings.Split(msg, "\n") {
			if s, ok := strings.CutPrefix(line, "STATUS="); ok {
				p.status = s
			}
		}
		close(p.arrived)
		p.arrived = make(chan struct{})
		p.mu.Unlock()
	}
}

// ErrExited is returned by WaitNotify when the process exits first.
var ErrExited = errors.New("exited")

// WaitNotify returns the next datagram not yet returned that contains want,
// or an error when the process exits first or ctx ends.
func (p *Proc) WaitNotify(ctx context.Context, want string) (string, error) {
	for {
		p.mu.Lock()
		for p.seen < len(p.msgs) {
			m := p.msgs[p.seen]
			p.seen++
			if strings.Contains(m, want) {
				p.mu.Unlock()
				return m, nil
			}
		}
		arrived := p.arrived
		p.mu.Unlock()
		select {
		case <-arrived:
		case <-p.done:
			// A datagram sent just before exiting may still be queued.
			p.mu.Lock()
			pending := p.seen < len(p.msgs)
			p.mu.Unlock()
			if !pending {
				return "", fmt.Errorf("%s %w before %s: %v", p.Name, ErrExited, want, p.err)
			}
		case <-ctx.Done():
			return "", fmt.Errorf("%s: no %s: %w", p.Name, want, ctx.Err())
		}
	}
}

// WaitReady waits for READY=1 and returns the STATUS= text sent with it.
func (p *Proc) WaitReady(ctx context.Context) (status string, err error) {
	msg, err := p.WaitNotify(ctx, "READY=1")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(msg, "\n") {
		if s, ok := strings.CutPrefix(line, "STATUS="); ok {
			status = s
		}
	}
	return status, nil
}

// Status returns the newest STATUS= text the process sent.
func (p *Proc) Status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's Wait error; valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// ExitCode is the exit status once Done is closed: -1 when the process died
// of a signal.
func (p *Proc) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) { _ = p.Cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits until the process is reaped.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to grace for the exit, then kills. It
// reports whether the process stopped on its own.
func (p *Proc) Stop(grace time.Duration) bool {
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}

// StartReady is Start for a test: stderr is kept and logged if the test
// fails, the process is stopped (SIGTERM, then SIGKILL after 15 s) when the
// test ends, and it returns once READY=1 arrived (with its STATUS= text),
// failing the test if the process exits first or stays silent for a
// minute.
func StartReady(tb testing.TB, name string, env []string, argv ...string) (*Proc, string, *SyncBuffer) {
	tb.Helper()
	stderr := &SyncBuffer{}
	p, err := Start(name, env, nil, stderr, argv...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.Stop(15 * time.Second)
		if tb.Failed() {
			tb.Logf("%s stderr:\n%s", name, stderr)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	status, err := p.WaitReady(ctx)
	if err != nil {
		tb.Fatalf("%v\n%s", err, stderr)
	}
	return p, status, stderr
}

// SyncBuffer is a bytes.Buffer safe for a child's writes and the test's
// reads at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
