package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The hostile phases (SPEC §4.2 "No host can hold others back", §4.5): a
// host trickling into every slot beside one declaring a near-full-disk
// Content-Length while honest hosts upload; connections that stall after
// their headers; a host-health flood.

// fairResult is the fairness phase.
type fairResult struct {
	Honest        phaseResult `json:"honest"`
	HogStreams    int         `json:"hog_streams"`
	HogCut        int64       `json:"hog_uploads_cut"`
	HogRefused    int64       `json:"hog_uploads_refused"`
	HoardDeclared int64       `json:"hoard_declared_bytes"`
	HoardRefused  int64       `json:"hoard_refused"`
	Avail         int64       `json:"space_above_min_free"`
}

// stallResult is the stalled-connections phase.
type stallResult struct {
	Conns        int     `json:"connections"`
	Answered     int     `json:"answered"`
	ClosedIn15s  int     `json:"closed_within_15s"`
	MaxCloseSecs float64 `json:"max_close_s"`
}

// floodResult is the host-health flood.
type floodResult struct {
	Stored      int   `json:"reports_stored"`
	Stalled     int   `json:"stalled_bodies"`
	Busy        int64 `json:"stalled_refused_busy"`
	Gets        int64 `json:"gets"`
	GetMiB      int64 `json:"get_mib"`
	PeakRSSKiB  int64 `json:"peak_rss_kib"`
	StartRSSKiB int64 `json:"start_rss_kib"`
}

// ownReceiver starts a receiver of its own for a phase, on a fresh data
// directory, with the gate off and serverExtra added to [server].
func ownReceiver(o options, name, serverExtra string) (*receiverProc, string, error) {
	dir := filepath.Join(o.out, name+"-data")
	if err := os.RemoveAll(dir); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(o.out, name+".toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
data_dir = %q
max_concurrent_uploads = %d
%s
[auth]
token_file = %q

[version_gate]
enabled = false
`, dir, o.maxConcurrent, serverExtra, filepath.Join(o.out, "token"))), 0o600); err != nil {
		return nil, "", err
	}
	rp, err := startReceiver(o.bin, []string{"serve", "--config", cfg}, filepath.Join(o.out, name+".log"))
	return rp, dir, err
}

// fairPhase runs its own receiver whose min_free_bytes leaves 4.5 GiB
// above it: one host ("hog") keeps maxConcurrent uploads of 64 MiB open at
// 2 KiB/s each (above min_body_rate, so only fairness can take slots back),
// another ("hoard") declares 4 GiB and sends it at 2 KiB/s, and hosts
// honest hosts upload for d.
func fairPhase(o options, b bodies, stderr io.Writer) (fairResult, error) {
	var res fairResult
	var st syscall.Statfs_t
	if err := syscall.Statfs(o.out, &st); err != nil {
		return res, err
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	res.Avail = 4<<30 + 512<<20
	minFree := free - res.Avail
	if minFree < 0 {
		return res, fmt.Errorf("fairness phase needs 4.5 GiB free on %s, has %d bytes", o.out, free)
	}
	rp, _, err := ownReceiver(o, "fair", fmt.Sprintf("min_free_bytes = %d\n", minFree))
	if err != nil {
		return res, err
	}
	defer rp.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	res.HogStreams = o.maxConcurrent
	for i := range o.maxConcurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			trickleAs(ctx, rp.addr, "hog", fmt.Sprintf("hog-%03d", i), 64<<20, &res.HogCut, &res.HogRefused)
		}()
	}
	res.HoardDeclared = 4 << 30
	wg.Add(1)
	go func() {
		defer wg.Done()
		var cut int64
		trickleAs(ctx, rp.addr, "hoard", "hoard-0", res.HoardDeclared, &cut, &res.HoardRefused)
	}()
	// Give the hog time to take every slot before the honest hosts come.
	time.Sleep(3 * time.Second)
	fmt.Fprintf(stderr, "fairness: hog holds %d streams, hoard declared %d bytes; %d honest hosts for %s\n", o.maxConcurrent, res.HoardDeclared, o.fairHosts, o.fairDuration)
	upCtx, upCancel := context.WithTimeout(ctx, o.fairDuration)
	res.Honest = uploadPhase(upCtx, rp.addr, "honest", o.fairHosts, b)
	upCancel()
	cancel()
	wg.Wait()
	return res, nil
}

// trickleAs keeps one upload of declared bytes going at 2 KiB/s as host,
// starting again a second after it is refused or cut off, until ctx ends.
// cut counts uploads the receiver closed without an answer (a slot taken
// back, or a rate cut), refused those answered before their end.
func trickleAs(ctx context.Context, addr, host, id string, declared int64, cut, refused *int64) {
	chunk := bytes.Repeat([]byte("t"), 256)
	head := fmt.Sprintf("PUT /v1/episodes/%s.tar.zst HTTP/1.1\r\nHost: receiver\r\nAuthorization: Bearer %s\r\n"+
		"X-Cis490-Host: %s\r\nX-Content-SHA256: %s\r\nX-Cis490-Code-Commit: %s\r\nContent-Length: %d\r\n\r\n",
		id, benchToken, host, strings.Repeat("0", 64), benchCommit, declared)
	for attempt := 0; attempt < 1000 && ctx.Err() == nil; attempt++ {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		answered := make(chan bool, 1)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				resp.Body.Close()
			}
			answered <- err == nil
			c.Close()
		}()
		if _, err := io.WriteString(c, head); err == nil {
			tick := time.NewTicker(125 * time.Millisecond)
			for ctx.Err() == nil {
				if _, err := c.Write(chunk); err != nil {
					break
				}
				<-tick.C
			}
			tick.Stop()
		}
		c.Close()
		if ctx.Err() == nil {
			if <-answered {
				atomic.AddInt64(refused, 1)
			} else {
				atomic.AddInt64(cut, 1)
			}
		}
		stop()
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

// stallPhase opens n connections that send complete request headers and
// then nothing: a third unauthenticated, a third refused at row 5, a third
// valid uploads whose body never comes. It measures when the receiver
// closes each one.
func stallPhase(addr string, n int, b bodies) stallResult {
	res := stallResult{Conns: n}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			tok, sha := benchToken, b.sums[0]
			switch i % 3 {
			case 0:
				tok = "not-the-token"
			case 1:
				sha = "not-hex"
			}
			fmt.Fprintf(c, "PUT /v1/episodes/stall-%03d.tar.zst HTTP/1.1\r\nHost: receiver\r\nAuthorization: Bearer %s\r\n"+
				"X-Cis490-Host: stall%03d\r\nX-Content-SHA256: %s\r\nX-Cis490-Code-Commit: %s\r\nContent-Length: %d\r\n\r\n",
				i, tok, i, sha, benchCommit, len(b.data[0]))
			t0 := time.Now()
			_ = c.SetReadDeadline(t0.Add(60 * time.Second))
			all, err := io.ReadAll(c)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if bytes.HasPrefix(all, []byte("HTTP/1.1 ")) {
				res.Answered++
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return // still open after 60 s
			}
			if d <= 15*time.Second {
				res.ClosedIn15s++
			}
			res.MaxCloseSecs = max(res.MaxCloseSecs, d.Seconds())
		}()
	}
	wg.Wait()
	return res
}

// healthFlood stores stored reports of almost 1 MiB, then opens stalled
// report bodies of 1 MiB − 1 byte while clients read GET /v1/host-health
// over and over, sampling the receiver's RSS throughout.
func healthFlood(o options) (floodResult, error) {
	var res floodResult
	rp, _, err := ownReceiver(o, "flood", "")
	if err != nil {
		return res, err
	}
	defer rp.stop()
	addr, pid, stored, stalled, d := rp.addr, rp.pid(), o.floodStored, o.floodStalled, o.floodDuration
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) // reset VmHWM
	res.StartRSSKiB = procStatusKiB(pid, "VmRSS")
	report := []byte(`{"pad":"` + strings.Repeat("x", 1<<20-64) + `"}`)
	almost := bytes.Repeat([]byte(" "), 1<<20-1) // a 1 MiB body short of its last byte
	client := &http.Client{Timeout: 60 * time.Second}
	work := make(chan int)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				for try := 0; try < 100; try++ { // 503 busy: the health slots are taken
					req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/v1/host-health/flood"+strconv.Itoa(i), bytes.NewReader(report))
					req.Header.Set("Authorization", "Bearer "+benchToken)
					resp, err := client.Do(req)
					if err != nil {
						break
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						ok.Add(1)
					}
					if resp.StatusCode != http.StatusServiceUnavailable {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	for i := range stored {
		work <- i
	}
	close(work)
	wg.Wait()
	res.Stored = int(ok.Load())

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var peak atomic.Int64
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for ctx.Err() == nil {
			if v := procStatusKiB(pid, "VmRSS"); v > peak.Load() {
				peak.Store(v)
			}
			<-t.C
		}
	}()
	var busy, gets, getBytes atomic.Int64
	res.Stalled = stalled
	for i := range stalled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			fmt.Fprintf(c, "PUT /v1/host-health/stalled%03d HTTP/1.1\r\nHost: receiver\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
				i, benchToken, 1<<20)
			c.Write(almost)
			all, _ := io.ReadAll(c)
			if bytes.Contains(all, []byte(`"busy"`)) {
				busy.Add(1)
			}
		}()
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/host-health", nil)
				req.Header.Set("Authorization", "Bearer "+benchToken)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				gets.Add(1)
				getBytes.Add(n)
			}
		}()
	}
	wg.Wait()
	res.Busy, res.Gets, res.GetMiB = busy.Load(), gets.Load(), getBytes.Load()>>20
	res.PeakRSSKiB = max(peak.Load(), procStatusKiB(pid, "VmHWM"))
	return res, nil
}
