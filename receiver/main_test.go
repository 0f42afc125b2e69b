package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/testutil"
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

// proc is a receiver started as a child process (testutil.Proc).
type proc struct {
	*testutil.Proc
	t    *testing.T
	addr string
}

// startReceiver runs `cis490-receiver serve args...` with env and waits for
// READY=1 on a notify socket the test owns; the STATUS line carries the
// bound address.
func startReceiver(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	argv := append([]string{os.Args[0], "serve"}, args...)
	tp, status, _ := testutil.StartReady(t, "receiver", append([]string{"CIS490_TEST_RUN_RECEIVER=1"}, env...), argv...)
	p := &proc{Proc: tp, t: t}
	p.addr, _ = strings.CutPrefix(status, "listening on ")
	if p.addr == status || p.addr == "" {
		t.Fatalf("no address in STATUS=%q", status)
	}
	return p
}

// waitNotify waits for a notify datagram containing want; it fails the
// test if the process exits first.
func (p *proc) waitNotify(want string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg, err := p.WaitNotify(ctx, want)
	if err != nil {
		p.t.Fatal(err)
	}
	return msg
}

// kill9 kills the receiver without a chance to clean up.
func (p *proc) kill9() { p.Kill() }

// stop sends SIGTERM and returns the exit error.
func (p *proc) stop() error {
	p.Stop(time.Minute)
	return p.Err()
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
