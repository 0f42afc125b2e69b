package torture

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowClientsDoNotStopUploads is the short form of bench/load's
// adversarial phase: with 200 idle keep-alive connections and 20 slowloris
// clients (request heads sent a byte at a time, never finished) held open
// against the real receiver, honest uploads from five hosts still complete.
func TestSlowClientsDoNotStopUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real receiver")
	}
	const (
		idleConns = 200
		slowConns = 20
		hosts     = 5
		perHost   = 4
	)
	bin := binaries(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	mustWrite(t, tokenFile, token+"\n")
	cfg := filepath.Join(dir, "receiver.toml")
	mustWrite(t, cfg, fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
data_dir = %q
min_free_bytes = 1048576

[auth]
token_file = %q

[version_gate]
enabled = false
`, filepath.Join(dir, "data"), tokenFile))
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	p, status, err := startProc(ctx, "receiver", filepath.Join(dir, "receiver.log"), nil, true,
		filepath.Join(bin, "cis490-receiver"), "serve", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop(15 * time.Second)
	addr, ok := strings.CutPrefix(status, "listening on ")
	if !ok {
		t.Fatalf("receiver STATUS %q names no address", status)
	}
	dumpLogOnFailure(t, filepath.Join(dir, "receiver.log"))

	for i := range idleConns {
		c, err := openIdle(addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		defer c.Close()
	}
	slowCtx, stopSlow := context.WithCancel(ctx)
	var slow sync.WaitGroup
	for i := range slowConns {
		slow.Add(1)
		go func() {
			defer slow.Done()
			trickleHead(slowCtx, addr, i)
		}()
	}
	defer func() {
		stopSlow()
		slow.Wait()
	}()

	type result struct {
		id   string
		code int
		err  error
	}
	results := make(chan result, hosts*perHost)
	var up sync.WaitGroup
	for h := range hosts {
		up.Add(1)
		go func() {
			defer up.Done()
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for n := range perHost {
				id := fmt.Sprintf("slow-test-%d-%d", h, n)
				code, err := putEpisode(ctx, client, addr, hostID(h), id, bytes.Repeat([]byte{byte(h), byte(n)}, 64<<10))
				results <- result{id, code, err}
			}
		}()
	}
	up.Wait()
	close(results)
	stored := 0
	for r := range results {
		if r.err != nil || r.code != http.StatusCreated {
			t.Errorf("upload %s beside slow clients: %d, %v; want 201", r.id, r.code, r.err)
			continue
		}
		stored++
	}
	index, err := os.ReadFile(filepath.Join(dir, "data", "index.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if rows := bytes.Count(index, []byte("\n")); rows != stored || stored != hosts*perHost {
		t.Errorf("stored %d of %d uploads, index has %d rows", stored, hosts*perHost, rows)
	}
}

// putEpisode uploads body as id with the headers a shipper sends.
func putEpisode(ctx context.Context, client *http.Client, addr, host, id string, body []byte) (int, error) {
	sum := sha256.Sum256(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/v1/episodes/"+id+".tar.zst", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Cis490-Host", host)
	req.Header.Set("X-Content-SHA256", hex.EncodeToString(sum[:]))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// openIdle makes one keep-alive request on a new connection and returns the
// connection, left idle.
func openIdle(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
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
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// trickleHead sends a request head a byte every 100 ms and never ends it,
// dialling again whenever the receiver cuts the connection; it stops when
// ctx ends or after a bounded number of connections.
func trickleHead(ctx context.Context, addr string, i int) {
	head := fmt.Sprintf("PUT /v1/episodes/slow-%d.tar.zst HTTP/1.1\r\nHost: receiver\r\nX-Cis490-Host: slow%02d\r\nX-Padding: %s", i, i, strings.Repeat("x", 1000))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range 100 {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		for k := 0; k < len(head); k++ {
			if _, err := c.Write([]byte{head[k]}); err != nil {
				break
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
		}
		stop()
		c.Close()
		if ctx.Err() != nil {
			return
		}
	}
}

// dumpLogOnFailure logs the file's content if the test fails.
func dumpLogOnFailure(t *testing.T, path string) {
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(path)
			t.Logf("%s:\n%s", path, b)
		}
	})
}
