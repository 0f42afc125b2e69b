package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// receiverProc is a running cis490-receiver started by the benchmark.
type receiverProc struct {
	cmd     *exec.Cmd
	addr    string
	startup time.Duration // from exec to READY=1
	stderr  *os.File
}

// startReceiver runs bin with args (and env added to the suite's) and waits
// for READY=1 on a notify socket the benchmark owns, so the start-up time is
// the receiver's own, not a polling interval.
func startReceiver(bin string, args []string, addr, logPath string, env ...string) (*receiverProc, error) {
	sockPath := filepath.Join(os.TempDir(), fmt.Sprintf("receiverbench-%d-%d.sock", os.Getpid(), time.Now().UnixNano()))
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	defer os.Remove(sockPath)
	defer sock.Close()
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), env...), "NOTIFY_SOCKET="+sockPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // no orphan if the suite dies
	cmd.Stdout = logf
	cmd.Stderr = logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start receiver: %w", err)
	}
	p := &receiverProc{cmd: cmd, addr: addr, stderr: logf}
	buf := make([]byte, 4096)
	sock.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		n, _, err := sock.ReadFromUnix(buf)
		if err != nil {
			p.stop()
			return nil, fmt.Errorf("receiver never sent READY=1 (see %s): %w", logPath, err)
		}
		if bytes.Contains(buf[:n], []byte("READY=1")) {
			p.startup = time.Since(start)
			return p, nil
		}
	}
}

// stop sends SIGTERM and waits for the receiver to exit.
func (p *receiverProc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.cmd.Wait()
	p.stderr.Close()
	return err
}

// procMem is a process's resident memory from /proc/<pid>/status, in KiB.
type procMem struct {
	RSS, HWM, Anon, File int64
}

func readMem(pid int) (procMem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	defer f.Close()
	var m procMem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		*dst, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	}
	return m, sc.Err()
}

// cpuTicks returns the user and system CPU time a process has used so far,
// in clock ticks (USER_HZ, 100 per second on linux).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// resetHWM resets VmHWM to the current RSS (clear_refs value 5, Linux ≥ 4.0),
// so a later VmHWM is the peak of what ran in between.
func resetHWM(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// sampler records the largest VmRSS seen while it runs.
type sampler struct {
	stop chan struct{}
	done chan int64
}

func sampleRSS(pid int, every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := readMem(pid); err == nil && m.RSS > peak {
				peak = m.RSS
			}
			select {
			case <-s.stop:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak VmRSS in KiB.
func (s *sampler) Stop() int64 { close(s.stop); return <-s.done }

// startBaseline runs this program's baseline subcommand and returns its
// address once it prints "ready".
func startBaseline(dir, logPath string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	defer logf.Close()
	cmd := exec.Command(self, "baseline", "--dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", fmt.Errorf("baseline did not start (see %s): %w", logPath, err)
	}
	go io.Copy(io.Discard, out)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", fmt.Errorf("baseline said %q", line)
	}
	return cmd, addr, nil
}

// freePort returns a loopback address with a port nobody listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// fsInfo names the file system holding dir and its device number.
func fsInfo(dir string) (string, uint64) {
	var st syscall.Statfs_t
	name := "unknown"
	if syscall.Statfs(dir, &st) == nil {
		switch st.Type {
		case 0xEF53:
			name = "ext4"
		case 0x58465342:
			name = "xfs"
		case 0x9123683E:
			name = "btrfs"
		case 0x01021994:
			name = "tmpfs"
		case 0x794c7630:
			name = "overlayfs"
		case 0x65735546:
			name = "fuse"
		default:
			name = fmt.Sprintf("fs type 0x%x", st.Type)
		}
	}
	var s syscall.Stat_t
	if syscall.Stat(dir, &s) == nil {
		return name, s.Dev
	}
	return name, 0
}

// restProc is a running rest-server, the peer small uploads are compared with.
type restProc struct {
	cmd  *exec.Cmd
	addr string
	dir  string
	log  *os.File
}

// startRestServer runs bin (rest-server) over dir without authentication,
// with or without its upload verification (the sha256 of a blob must be its
// name; rest-server's default), waits until it accepts connections and creates the
// repository at its root.
func startRestServer(bin, dir, logPath string, verify bool) (*restProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"--path", dir, "--listen", addr, "--no-auth"}
	if !verify {
		args = append(args, "--no-verify-upload")
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start rest-server: %w", err)
	}
	p := &restProc{cmd: cmd, addr: addr, dir: dir, log: logf}
	// rest-server has no readiness signal: poll its port.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("rest-server never listened on %s (see %s)", addr, logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Post("http://"+addr+"/?create=true", "application/octet-stream", nil)
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("create rest-server repository: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.stop()
		return nil, fmt.Errorf("create rest-server repository: %s", resp.Status)
	}
	return p, nil
}

// stop sends SIGTERM and waits for rest-server to exit.
func (p *restProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	p.log.Close()
}
