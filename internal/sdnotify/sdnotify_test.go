package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNotifyPathAndAbstractSockets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	abstract := "cis490-test-" + strconv.Itoa(os.Getpid())
	for _, tc := range []struct{ name, listen, env string }{
		{"path", path, path},
		{"abstract", "\x00" + abstract, "@" + abstract},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: tc.listen, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			n := New(env(map[string]string{"NOTIFY_SOCKET": tc.env}))
			if !n.Enabled() {
				t.Fatal("not enabled")
			}
			if err := n.Notify(Ready + "\n" + Status("3 pending")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 256)
			k, err := conn.Read(buf)
			if err != nil || string(buf[:k]) != "READY=1\nSTATUS=3 pending" {
				t.Errorf("received %q, %v", buf[:k], err)
			}
		})
	}
}

func TestNotifyWithoutSocketIsANoOp(t *testing.T) {
	n := New(env(nil))
	if n.Enabled() || n.Notify(Ready) != nil {
		t.Error("no socket must mean a silent no-op")
	}
	var nilN *Notifier
	if nilN.Notify(Stopping) != nil {
		t.Error("nil notifier failed")
	}
	gone := New(env(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "absent")}))
	if gone.Notify(Ready) == nil {
		t.Error("a missing socket must report an error for the caller to log")
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	cases := []struct {
		usec, pid string
		want      time.Duration
	}{
		{"180000000", "", 180 * time.Second},
		{"180000000", pid, 180 * time.Second},
		{"180000000", "1", 0},
		{"", "", 0},
		{"junk", "", 0},
		{"-5", "", 0},
	}
	for _, tc := range cases {
		got := WatchdogInterval(env(map[string]string{"WATCHDOG_USEC": tc.usec, "WATCHDOG_PID": tc.pid}))
		if got != tc.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, want %v", tc.usec, tc.pid, got, tc.want)
		}
	}
}
