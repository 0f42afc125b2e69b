// Command load measures one cis490-receiver under a fleet's load on
// loopback: many simulated hosts uploading small episodes at once
// (throughput, latency, errors, peak RSS), then thousands of idle keep-alive
// connections and slowloris clients beside a few honest uploaders (do the
// uploads still complete, and how fast). bench/load/run.sh builds and runs
// it; docs/RELIABILITY.md "Load" records the figures.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options are the command-line settings.
type options struct {
	bin           string
	out           string
	hosts         int
	size          int
	duration      time.Duration
	idle          int
	slow          int
	slowBody      int
	advHosts      int
	advDuration   time.Duration
	maxConcurrent int
	jsonOut       bool
	fairDuration  time.Duration
	fairHosts     int
	stalled       int
	floodStored   int
	floodStalled  int
	floodDuration time.Duration
}

const (
	benchToken  = "load-token-0123456789abcdef"
	benchCommit = "0123456789abcdef0123456789abcdef01234567"
)

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "", "cis490-receiver binary (required)")
	fs.StringVar(&o.out, "out", "bench/out/load", "work directory (receiver data and log)")
	fs.IntVar(&o.hosts, "hosts", 200, "concurrent uploading hosts in the throughput phase")
	fs.IntVar(&o.size, "size", 256<<10, "episode size in bytes")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "length of the throughput phase")
	fs.IntVar(&o.idle, "idle", 5000, "idle keep-alive connections in the adversarial phase")
	fs.IntVar(&o.slow, "slowloris", 50, "slowloris clients in the adversarial phase")
	fs.IntVar(&o.slowBody, "slow-body", 0, "authenticated clients that trickle an upload body a byte a second in the adversarial phase")
	fs.IntVar(&o.advHosts, "adv-hosts", 20, "uploading hosts beside them")
	fs.DurationVar(&o.advDuration, "adv-duration", 30*time.Second, "length of the adversarial phase")
	fs.IntVar(&o.maxConcurrent, "max-concurrent", 32, "receiver max_concurrent_uploads")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	fs.DurationVar(&o.fairDuration, "fair-duration", 20*time.Second, "honest uploads beside a slot hog and a space hoarder, on a receiver of its own (0: skip)")
	fs.IntVar(&o.fairHosts, "fair-hosts", 20, "honest hosts in the fairness phase")
	fs.IntVar(&o.stalled, "stalled", 300, "connections that stall after their headers (0: skip)")
	fs.IntVar(&o.floodStored, "flood-stored", 150, "host-health reports of ~1 MiB stored before the flood (0: skip the flood)")
	fs.IntVar(&o.floodStalled, "flood-stalled", 200, "host-health bodies of 1 MiB - 1 byte that stall during the flood")
	fs.DurationVar(&o.floodDuration, "flood-duration", 20*time.Second, "length of the flood, while 3 clients GET /v1/host-health")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.bin == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: load -bin cis490-receiver [flags]")
		return 2
	}
	rep, err := bench(o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "load:", err)
		return 1
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.print(stdout)
	}
	if rep.Throughput.Errors > 0 || rep.Adversarial.Uploads.Errors > 0 || rep.Adversarial.Uploads.Stored == 0 {
		return 1
	}
	if rep.Fair != nil && (rep.Fair.Honest.Errors > 0 || rep.Fair.Honest.Stored == 0) {
		return 1
	}
	if rep.Stall != nil && rep.Stall.ClosedIn15s < rep.Stall.Conns {
		return 1
	}
	return 0
}

// report is what one run measured.
type report struct {
	Machine     string      `json:"machine"`
	Config      string      `json:"config"`
	Throughput  phaseResult `json:"throughput"`
	PeakRSSKiB  int64       `json:"peak_rss_kib"` // VmHWM after the throughput phase
	Adversarial struct {
		IdleOpened     int         `json:"idle_opened"`
		IdleStillOpen  int         `json:"idle_still_open"`
		SlowConnects   int64       `json:"slowloris_connects"`
		SlowCutByPeer  int64       `json:"slowloris_cut_by_receiver"`
		SlowBody       int         `json:"slow_body_clients"`
		Uploads        phaseResult `json:"uploads"`
		PeakRSSKiB     int64       `json:"peak_rss_kib"` // VmHWM after the phase
		ReceiverOpenFD int         `json:"receiver_open_fds"`
	} `json:"adversarial"`
	Stall *stallResult `json:"stalled,omitempty"`
	Flood *floodResult `json:"health_flood,omitempty"`
	Fair  *fairResult  `json:"fairness,omitempty"`
}

func bench(o options, stderr io.Writer) (*report, error) {
	dataDir := filepath.Join(o.out, "data")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(o.out, "token")
	if err := os.WriteFile(tokenFile, []byte(benchToken+"\n"), 0o600); err != nil {
		return nil, err
	}
	// A one-commit Forgejo; served tells waitGate a list went out.
	served := make(chan struct{}, 1)
	fj := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("page") == "1" {
			fmt.Fprintf(w, `[{"sha":%q}]`, benchCommit)
			select {
			case served <- struct{}{}:
			default:
			}
			return
		}
		fmt.Fprint(w, `[]`)
	}))
	defer fj.Close()
	cfgPath := filepath.Join(o.out, "receiver.toml")
	cfg := fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
data_dir = %q
min_free_bytes = 1048576
max_concurrent_uploads = %d

[auth]
token_file = %q

[version_gate]
enabled = true
forgejo_url = %q
repo_owner = "lab"
repo_name = "cis490"
window = 1
refresh_s = 1
`, dataDir, o.maxConcurrent, tokenFile, fj.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	rp, err := startReceiver(o.bin, []string{"serve", "--config", cfgPath}, filepath.Join(o.out, "receiver.log"))
	if err != nil {
		return nil, err
	}
	defer rp.stop()
	if err := waitGate(rp.addr, served); err != nil {
		return nil, err
	}

	rep := &report{Machine: machine(), Config: fmt.Sprintf("max_concurrent_uploads=%d, gate on (Forgejo, 1 commit), token auth, %d-byte episodes", o.maxConcurrent, o.size)}
	bodies := newBodies(o.size, 16)

	fmt.Fprintf(stderr, "throughput: %d hosts for %s against %s\n", o.hosts, o.duration, rp.addr)
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	rep.Throughput = uploadPhase(ctx, rp.addr, "load", o.hosts, bodies)
	cancel()
	rep.PeakRSSKiB = procStatusKiB(rp.pid(), "VmHWM")

	fmt.Fprintf(stderr, "adversarial: %d idle, %d slowloris, %d uploading hosts for %s\n", o.idle, o.slow, o.advHosts, o.advDuration)
	if err := adversarial(rep, o, rp, bodies, stderr); err != nil {
		return nil, err
	}
	if o.stalled > 0 {
		fmt.Fprintf(stderr, "stalled: %d connections stop after their headers\n", o.stalled)
		st := stallPhase(rp.addr, o.stalled, bodies)
		rep.Stall = &st
	}
	if o.floodStored > 0 {
		fmt.Fprintf(stderr, "health flood: %d reports stored, then %d stalled bodies and 3 readers for %s\n", o.floodStored, o.floodStalled, o.floodDuration)
		fl, err := healthFlood(o)
		if err != nil {
			return nil, err
		}
		rep.Flood = &fl
	}
	if o.fairDuration > 0 {
		fr, err := fairPhase(o, bodies, stderr)
		if err != nil {
			return nil, err
		}
		rep.Fair = &fr
	}
	return rep, nil
}

// bodies are distinct random episode bodies with their digests, made before
// any timed run; every upload still gets its own id.
type bodies struct {
	data [][]byte
	sums []string
}

func newBodies(size, n int) bodies {
	var b bodies
	rng := rand.NewChaCha8([32]byte{'l', 'o', 'a', 'd'})
	for range n {
		d := make([]byte, size)
		_, _ = rng.Read(d)
		s := sha256.Sum256(d)
		b.data = append(b.data, d)
		b.sums = append(b.sums, hex.EncodeToString(s[:]))
	}
	return b
}

// waitGate asks the receiver's ping, after each list the fake Forgejo
// serves, until the gate passes, so the first uploads do not hear 503
// gate-unavailable; bounded to 20 tries of 10 s.
func waitGate(addr string, served <-chan struct{}) error {
	for range 20 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/ping", nil)
		req.Header.Set("Authorization", "Bearer "+benchToken)
		req.Header.Set("X-Cis490-Host", "load000")
		req.Header.Set("X-Cis490-Code-Commit", benchCommit)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var body struct{ Gate string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if body.Gate == "pass" {
				return nil
			}
		}
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("the receiver never fetched its commit list")
		}
	}
	return fmt.Errorf("the receiver's gate never loaded its list")
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	if len(f) > 3 {
		f = f[:3]
	}
	return fmt.Sprintf("%d CPUs, %s, load %s", nprocs(), model, strings.Join(f, " "))
}

func nprocs() int {
	b, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(string(b), &n)
	return n
}

// procStatusKiB reads one "kB" field of /proc/<pid>/status.
func procStatusKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var n int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &n)
			return n
		}
	}
	return -1
}

func openFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// stop ends the receiver with SIGTERM.
func (r *receiverProc) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.log.Close()
}

func (r *receiverProc) pid() int { return r.cmd.Process.Pid }
