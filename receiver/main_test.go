package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the test binary run as cis490-receiver when asked, so the
// tests can start, kill and restart the real program (and it stays under
// -race).
func TestMain(m *testing.M) {
	if os.Getenv("CIS490_TEST_RUN_RECEIVER") == "1" {
		os.Exit(runMain())
	}
	os.Exit(m.Run())
}

// proc is a receiver started as a child process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	notify *net.UnixConn
	done   chan error
}

// startReceiver runs `cis490-receiver serve args...` with env and waits for
// READY=1 on a notify socket the test owns; the STATUS line carries the
// bound address.
func startReceiver(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), "CIS490_TEST_RUN_RECEIVER=1", "NOTIFY_SOCKET="+sock)
	cmd.Env = append(cmd.Env, env...)
	p := &proc{t: t, cmd: cmd, stderr: &bytes.Buffer{}, notify: conn, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		conn.Close()
		if t.Failed() {
			t.Logf("receiver stderr:\n%s", p.stderr)
		}
	})
	msg := p.waitNotify("READY=1")
	for _, line := range strings.Split(msg, "\n") {
		if a, ok := strings.CutPrefix(line, "STATUS=listening on "); ok {
			p.addr = a
		}
	}
	if p.addr == "" {
		t.Fatalf("no address in %q", msg)
	}
	return p
}

// waitNotify reads notify datagrams until one contains want; it fails the
// test if the process exits first.
func (p *proc) waitNotify(want string) string {
	p.t.Helper()
	type res struct {
		msg string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := p.notify.Read(buf)
			if err != nil {
				ch <- res{err: err}
				return
			}
			if m := string(buf[:n]); strings.Contains(m, want) {
				ch <- res{msg: m}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			p.t.Fatalf("notify socket: %v", r.err)
		}
		return r.msg
	case err := <-p.done:
		p.done <- err
		p.t.Fatalf("receiver exited before %s: %v\n%s", want, err, p.stderr)
	}
	return ""
}

// kill9 kills the receiver without a chance to clean up.
func (p *proc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.done <- nil
}

// stop sends SIGTERM and returns the exit error.
func (p *proc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	err := <-p.done
	p.done <- err
	return err
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// writeConfig writes a receiver.toml for dataDir with extra lines appended
// to [server] and returns its path.
func writeConfig(t *testing.T, dataDir string, sections string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "receiver.toml")
	body := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = %q\n%s", dataDir, sections)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type netAddr = net.Addr

func fmtSscan(s string, args ...any) (int, error) { return fmt.Sscan(s, args...) }
