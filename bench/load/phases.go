package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// phaseResult is one phase's uploads.
type phaseResult struct {
	Seconds    float64 `json:"seconds"`
	Stored     int     `json:"stored"`
	Busy       int     `json:"busy"`   // 503 busy: the receiver's deliberate back-pressure
	Errors     int     `json:"errors"` // anything else: must be 0
	FirstError string  `json:"first_error,omitempty"`
	PerSecond  float64 `json:"uploads_per_s"`
	MiBPerSec  float64 `json:"mib_per_s"`
	P50ms      float64 `json:"p50_ms"` // of stored uploads, request start to answer
	P99ms      float64 `json:"p99_ms"`
	Maxms      float64 `json:"max_ms"`
}

// maxUploadsPerHost bounds every host's loop besides the phase's deadline.
const maxUploadsPerHost = 100_000

// uploadPhase runs hosts simulated hosts, each uploading one episode after
// another (as a shipper does) until ctx ends. A 503 busy is retried after a
// short random pause instead of its Retry-After, so the phase measures the
// receiver rather than the clients' patience; it is counted apart.
func uploadPhase(ctx context.Context, addr, prefix string, hosts int, b bodies) phaseResult {
	var mu sync.Mutex
	var res phaseResult
	var lat []time.Duration
	var bytesStored atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := fmt.Sprintf("%s%03d", prefix, h)
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true, ExpectContinueTimeout: 5 * time.Second}}
			defer client.CloseIdleConnections()
			rng := rand.New(rand.NewPCG(uint64(h), 7))
			var mine []time.Duration
			var stored, busy, errs int
			firstErr := ""
			for n := 0; n < maxUploadsPerHost && ctx.Err() == nil; n++ {
				k := rng.IntN(len(b.data))
				id := fmt.Sprintf("%s-%06d", host, n)
				t0 := time.Now()
				code, body, err := put(ctx, client, addr, host, id, b.data[k], b.sums[k])
				d := time.Since(t0)
				switch {
				case ctx.Err() != nil:
					// The phase ended mid-request; not the receiver's doing.
				case err != nil:
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				case code == http.StatusCreated:
					stored++
					mine = append(mine, d)
					bytesStored.Add(int64(len(b.data[k])))
				case code == http.StatusServiceUnavailable && strings.Contains(body, `"busy"`):
					busy++
					pause := time.NewTimer(time.Duration(50+rng.IntN(200)) * time.Millisecond)
					select {
					case <-pause.C:
					case <-ctx.Done():
						pause.Stop()
					}
				default:
					errs++
					if firstErr == "" {
						firstErr = fmt.Sprintf("%d %s", code, body)
					}
				}
			}
			mu.Lock()
			res.Stored += stored
			res.Busy += busy
			res.Errors += errs
			if res.FirstError == "" {
				res.FirstError = firstErr
			}
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.PerSecond = float64(res.Stored) / res.Seconds
	res.MiBPerSec = float64(bytesStored.Load()) / (1 << 20) / res.Seconds
	if len(lat) > 0 {
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		res.P50ms = ms(lat[len(lat)/2])
		res.P99ms = ms(lat[len(lat)*99/100])
		res.Maxms = ms(lat[len(lat)-1])
	}
	return res
}

// put uploads one episode with the headers a shipper sends.
func put(ctx context.Context, client *http.Client, addr, host, id string, body []byte, sum string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/v1/episodes/"+id+".tar.zst", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+benchToken)
	req.Header.Set("X-Cis490-Host", host)
	req.Header.Set("X-Content-SHA256", sum)
	req.Header.Set("X-Cis490-Code-Commit", benchCommit)
	req.Header.Set("X-Cis490-Schema-Version", "3")
	// As the shipper does: a refused upload (503 busy) never sends its body.
	req.Header.Set("Expect", "100-continue")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// adversarial opens o.idle keep-alive connections that each made one
// request and then say nothing, and o.slow slowloris clients that send a
// request head one byte a second (reconnecting whenever the receiver cuts
// them), then runs o.advHosts honest uploaders beside them.
func adversarial(rep *report, o options, rp *receiverProc, b bodies, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	idle := make([]net.Conn, 0, o.idle)
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	var openMu sync.Mutex
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[string]
	for range o.idle {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := idleConn(rp.addr)
			if err != nil {
				s := err.Error()
				firstErr.CompareAndSwap(nil, &s)
				return
			}
			openMu.Lock()
			idle = append(idle, c)
			openMu.Unlock()
		}()
	}
	wg.Wait()
	rep.Adversarial.IdleOpened = len(idle)
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(stderr, "adversarial: %d of %d idle connections failed to open, first: %s\n", o.idle-len(idle), o.idle, *e)
	}
	fmt.Fprintf(stderr, "adversarial: %d idle connections open; receiver holds %d fds, RSS %d KiB\n",
		len(idle), openFDs(rp.pid()), procStatusKiB(rp.pid(), "VmRSS"))

	var slowWG sync.WaitGroup
	var connects, cut atomic.Int64
	for i := range o.slow {
		slowWG.Add(1)
		go func() {
			defer slowWG.Done()
			slowloris(ctx, rp.addr, i, &connects, &cut)
		}()
	}
	for i := range o.slowBody {
		slowWG.Add(1)
		go func() {
			defer slowWG.Done()
			trickleBody(ctx, rp.addr, i, b)
		}()
	}
	rep.Adversarial.SlowBody = o.slowBody
	upCtx, upCancel := context.WithTimeout(ctx, o.advDuration)
	rep.Adversarial.Uploads = uploadPhase(upCtx, rp.addr, "adv", o.advHosts, b)
	upCancel()
	rep.Adversarial.ReceiverOpenFD = openFDs(rp.pid())
	rep.Adversarial.PeakRSSKiB = procStatusKiB(rp.pid(), "VmHWM")
	cancel()
	slowWG.Wait()
	rep.Adversarial.SlowConnects, rep.Adversarial.SlowCutByPeer = connects.Load(), cut.Load()

	// How many idle connections the receiver kept (its IdleTimeout is 120 s,
	// longer than the phase): a read that times out means still open.
	still := 0
	for _, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var one [1]byte
		if _, err := c.Read(one[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				still++
			}
		}
	}
	rep.Adversarial.IdleStillOpen = still
	return nil
}

// idleConn opens a connection, makes one keep-alive request and leaves it
// open.
func idleConn(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: receiver\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("healthz: %s", resp.Status)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// slowloris sends a request head one byte a second, never finishing it;
// when the receiver closes the connection it dials again. Every loop is
// bounded by ctx and a count.
func slowloris(ctx context.Context, addr string, i int, connects, cut *atomic.Int64) {
	head := fmt.Sprintf("PUT /v1/episodes/slow-%d.tar.zst HTTP/1.1\r\nHost: receiver\r\nAuthorization: Bearer %s\r\nX-Cis490-Host: slow%02d\r\nX-Padding: %s", i, benchToken, i, strings.Repeat("x", 4000))
	for attempt := 0; attempt < 1000 && ctx.Err() == nil; attempt++ {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return
		}
		connects.Add(1)
		stop := context.AfterFunc(ctx, func() { c.Close() })
		tick := time.NewTicker(time.Second)
		for k := 0; k < len(head) && ctx.Err() == nil; k++ {
			if _, err := c.Write([]byte{head[k]}); err != nil {
				if ctx.Err() == nil {
					cut.Add(1)
				}
				break
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
		tick.Stop()
		stop()
		c.Close()
	}
}

// trickleBody is a misbehaving lab host: a valid upload whose body arrives
// a byte a second, so it never trips the receiver's body idle timeout and
// holds an upload slot until ctx ends. Refused (busy), it tries again a
// second later, so such clients end up holding every slot they can get.
func trickleBody(ctx context.Context, addr string, i int, b bodies) {
	head := fmt.Sprintf("PUT /v1/episodes/trickle-%03d.tar.zst HTTP/1.1\r\nHost: receiver\r\nAuthorization: Bearer %s\r\n"+
		"X-Cis490-Host: trickle%03d\r\nX-Content-SHA256: %s\r\nX-Cis490-Code-Commit: %s\r\nContent-Length: %d\r\n\r\n",
		i, benchToken, i, b.sums[0], benchCommit, len(b.data[0]))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for attempt := 0; attempt < 1000 && ctx.Err() == nil; attempt++ {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		// Any answer (a refusal) or a cut ends this attempt.
		go func() {
			var one [1]byte
			_, _ = c.Read(one[:])
			c.Close()
		}()
		if _, err := io.WriteString(c, head); err == nil {
			for k := 0; k < len(b.data[0]) && ctx.Err() == nil; k++ {
				if _, err := c.Write(b.data[0][k : k+1]); err != nil {
					break
				}
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
			}
		}
		stop()
		c.Close()
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
}

// receiverProc is a running cis490-receiver.
type receiverProc struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
}

// startReceiver runs bin and waits for READY=1 on a notify socket of our
// own; the STATUS= text alongside names the bound address.
func startReceiver(bin string, args []string, logPath string) (*receiverProc, error) {
	sockPath := filepath.Join(os.TempDir(), fmt.Sprintf("cis490-load-%d.sock", os.Getpid()))
	_ = os.Remove(sockPath)
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
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start receiver: %w", err)
	}
	p := &receiverProc{cmd: cmd, log: logf}
	_ = sock.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	for {
		n, err := sock.Read(buf)
		if err != nil {
			p.stop()
			return nil, fmt.Errorf("receiver sent no READY=1 (see %s): %w", logPath, err)
		}
		msg := string(buf[:n])
		if !strings.Contains(msg, "READY=1") {
			continue
		}
		for _, line := range strings.Split(msg, "\n") {
			if a, ok := strings.CutPrefix(line, "STATUS=listening on "); ok {
				p.addr = a
			}
		}
		if p.addr == "" {
			p.stop()
			return nil, fmt.Errorf("receiver READY=1 without its address: %q", msg)
		}
		return p, nil
	}
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "machine: %s\nconfig: %s\n", r.Machine, r.Config)
	t := r.Throughput
	fmt.Fprintf(w, "throughput: %d stored in %.1f s = %.1f uploads/s, %.1f MiB/s; p50 %.1f ms, p99 %.1f ms, max %.1f ms; busy %d; errors %d %s\n",
		t.Stored, t.Seconds, t.PerSecond, t.MiBPerSec, t.P50ms, t.P99ms, t.Maxms, t.Busy, t.Errors, t.FirstError)
	fmt.Fprintf(w, "receiver peak RSS (VmHWM) after throughput: %.1f MiB\n", float64(r.PeakRSSKiB)/1024)
	a := r.Adversarial
	u := a.Uploads
	fmt.Fprintf(w, "adversarial: idle opened %d (still open at the end %d), slowloris connects %d (cut by receiver %d), slow-body clients %d, receiver fds %d\n",
		a.IdleOpened, a.IdleStillOpen, a.SlowConnects, a.SlowCutByPeer, a.SlowBody, a.ReceiverOpenFD)
	fmt.Fprintf(w, "adversarial uploads: %d stored in %.1f s = %.1f uploads/s; p50 %.1f ms, p99 %.1f ms, max %.1f ms; busy %d; errors %d %s\n",
		u.Stored, u.Seconds, u.PerSecond, u.P50ms, u.P99ms, u.Maxms, u.Busy, u.Errors, u.FirstError)
	fmt.Fprintf(w, "receiver peak RSS (VmHWM) after adversarial: %.1f MiB\n", float64(a.PeakRSSKiB)/1024)
	if s := r.Stall; s != nil {
		fmt.Fprintf(w, "stalled after headers: %d connections, %d answered, %d closed within 15 s, last closed after %.1f s\n",
			s.Conns, s.Answered, s.ClosedIn15s, s.MaxCloseSecs)
	}
	if f := r.Flood; f != nil {
		fmt.Fprintf(w, "health flood: %d reports stored, %d stalled bodies (%d refused busy), %d GETs (%d MiB); receiver RSS %.1f MiB before, peak %.1f MiB\n",
			f.Stored, f.Stalled, f.Busy, f.Gets, f.GetMiB, float64(f.StartRSSKiB)/1024, float64(f.PeakRSSKiB)/1024)
	}
	if f := r.Fair; f != nil {
		h := f.Honest
		fmt.Fprintf(w, "fairness: hog %d streams at 2 KiB/s (%d cut, %d refused), hoard declared %d of %d bytes (%d refused); honest: %d stored in %.1f s, p50 %.1f ms, p99 %.1f ms, max %.1f ms; busy %d; errors %d %s\n",
			f.HogStreams, f.HogCut, f.HogRefused, f.HoardDeclared, f.Avail, f.HoardRefused, h.Stored, h.Seconds, h.P50ms, h.P99ms, h.Maxms, h.Busy, h.Errors, h.FirstError)
	}
}
