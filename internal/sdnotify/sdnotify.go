// Package sdnotify sends systemd service notifications (sd_notify(3)) over
// the datagram socket named by NOTIFY_SOCKET, a path or an abstract name
// ("@…"). With no socket configured every call is a no-op.
package sdnotify

import (
	"net"
	"os"
	"strconv"
	"time"
)

// Common states.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notifier sends states to one socket. The zero value and a nil *Notifier are
// no-ops.
type Notifier struct {
	addr *net.UnixAddr
}

// New returns a Notifier for the socket named by NOTIFY_SOCKET in env (use
// os.Getenv). An empty name gives a no-op Notifier.
func New(getenv func(string) string) *Notifier {
	name := getenv("NOTIFY_SOCKET")
	if name == "" {
		return &Notifier{}
	}
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Enabled reports whether a socket is configured.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Notify sends one or more newline-separated states, e.g. "READY=1" or
// "STATUS=…". Without a socket it does nothing and returns nil.
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, err = c.Write([]byte(state))
	return err
}

// Status formats a STATUS= line.
func Status(s string) string { return "STATUS=" + s }

// WatchdogInterval returns the watchdog timeout from WATCHDOG_USEC, or 0 when
// the watchdog is off or WATCHDOG_PID names another process.
func WatchdogInterval(getenv func(string) string) time.Duration {
	us, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}
