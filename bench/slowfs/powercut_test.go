package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The receiver's promise under a power cut: every episode answered 201
// before the cut is stored after it, with its bytes and one row, and fsck is
// clean. The receiver runs on the FUSE passthrough with the strict model of
// what a cut keeps (durable), hosts upload without pause, the power is cut
// at once, the receiver is killed, and a new receiver starts on the tree the
// cut left. Each round must also find acknowledged episodes whose store/
// name the cut lost, so that the start's repair is what is being tested.
func TestPowerCutKeepsEveryAcknowledgedEpisode(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("SKIP: no /dev/fuse here (%v): the power-cut model is a FUSE file system", err)
	}
	bin := buildReceiver(t)
	lost := 0
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			lost += powerCutRound(t, bin, uint64(round))
		})
	}
	if lost == 0 && !t.Skipped() {
		t.Error("no cut lost a store/ name: the repair after a cut was never exercised")
	}
}

// powerCutRound runs one cut and returns how many acknowledged episodes'
// store/ names it lost.
func powerCutRound(t *testing.T, bin string, seed uint64) int {
	backing, mnt, etc := t.TempDir(), t.TempDir(), t.TempDir()
	dev := &device{sleep: func(time.Duration) {}}
	dev.cond = sync.NewCond(&dev.mu)
	track := newDurable(backing)
	server, err := mount(backing, mnt, dev, track)
	if err != nil {
		t.Skipf("SKIP: cannot mount FUSE here (%v): needs /dev/fuse and the right to mount", err)
	}
	mounted := true
	unmount := func() {
		if mounted {
			mounted = false
			if err := server.Unmount(); err != nil {
				t.Errorf("unmount: %v", err)
			}
		}
	}
	t.Cleanup(unmount)

	cfg := writeConfig(t, etc, "before.toml", filepath.Join(mnt, "data"))
	p := startReceiver(t, bin, cfg)
	if err := track.syncAll(); err != nil { // a clean start: everything so far is on the disk
		t.Fatal(err)
	}

	// Four hosts upload without pause; the cut comes after a random number
	// of answers (40 to 400), so it falls anywhere in the receiver's cycle
	// of fsyncing store/ once a second.
	var mu sync.Mutex
	acked := map[string]string{}
	cutAfter := 40 + rand.New(rand.NewPCG(seed, 99)).IntN(361)
	enough := make(chan struct{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for h := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(h)))
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := make([]byte, 1<<10+rng.IntN(300<<10))
				for j := range body {
					body[j] = byte(rng.Uint32())
				}
				id := fmt.Sprintf("ep-%d-%d-%d", seed, h, i)
				sum := sha256.Sum256(body)
				if put(client, p.addr, id, body, hex.EncodeToString(sum[:])) == http.StatusCreated {
					mu.Lock()
					acked[id] = hex.EncodeToString(sum[:])
					if len(acked) == cutAfter {
						close(enough)
					}
					mu.Unlock()
				}
			}
		}()
	}
	<-enough
	mu.Lock()
	promised := make(map[string]string, len(acked))
	for id, sum := range acked {
		promised[id] = sum
	}
	mu.Unlock()
	track.cutPower()
	p.kill()
	close(stop)
	wg.Wait()
	unmount()

	after := t.TempDir()
	if err := track.materialize(after); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(after, "data")
	lost := 0
	for id := range promised {
		if _, err := os.Lstat(filepath.Join(data, "store", id+".tar.zst")); err != nil {
			lost++
		}
	}
	t.Logf("%d episodes answered 201 before the cut; the cut lost the store/ name of %d", len(promised), lost)
	if lost == 0 {
		t.Log("this cut fell where every store/ name was already durable: the repair was not needed")
	}

	cfg2 := writeConfig(t, etc, "after.toml", data)
	p2 := startReceiver(t, bin, cfg2)
	client := &http.Client{Timeout: 10 * time.Second}
	for id, sum := range promised {
		resp, err := client.Do(mustRequest(http.MethodHead, "http://"+p2.addr+"/v1/episodes/"+id+".tar.zst", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Content-SHA256") != sum {
			t.Errorf("%s: HEAD %d sha256 %q after the cut, want 200 %s", id, resp.StatusCode, resp.Header.Get("X-Content-SHA256"), sum)
			continue
		}
		b, err := os.ReadFile(filepath.Join(data, "store", id+".tar.zst"))
		if got := sha256.Sum256(b); err != nil || hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: store file %v, its bytes hash to %x, want %s", id, err, got, sum)
		}
	}
	p2.stop(t)
	out, err := exec.Command(bin, "fsck", "--config", cfg2).CombinedOutput()
	if err != nil {
		t.Errorf("fsck after the cut: %v\n%s", err, out)
	}
	if t.Failed() {
		t.Logf("receiver before the cut:\n%s\nafter:\n%s", p.log.String(), p2.log.String())
	}
	return lost
}

func buildReceiver(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cis490-receiver")
	cmd := exec.Command("go", "build", "-o", bin, "./receiver")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the receiver: %v\n%s", err, out)
	}
	return bin
}

func writeConfig(t *testing.T, dir, name, dataDir string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	cfg := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = %q\nmin_free_bytes = 0\n\n[version_gate]\nenabled = false\n", dataDir)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// receiver is a running cis490-receiver.
type receiver struct {
	cmd  *exec.Cmd
	addr string
	log  *syncBuffer
	done chan error

	once sync.Once
	err  error // its exit, once waited for
}

// syncBuffer is a bytes.Buffer the process's output goroutines and the test
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startReceiver starts serve and waits for its READY=1 on a notify socket.
func startReceiver(t *testing.T, bin, cfg string) *receiver {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "n")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := &receiver{log: &syncBuffer{}, done: make(chan error, 1)}
	r.cmd = exec.Command(bin, "serve", "--config", cfg)
	r.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(r.kill)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { <-ctx.Done(); ln.SetReadDeadline(time.Now()) }()
	buf := make([]byte, 4096)
	for {
		n, err := ln.Read(buf)
		if err != nil {
			t.Fatalf("no READY=1 from the receiver: %v\n%s", err, r.log.String())
		}
		msg := string(buf[:n])
		if !strings.Contains(msg, "READY=1") {
			continue
		}
		for _, line := range strings.Split(msg, "\n") {
			if a, ok := strings.CutPrefix(line, "STATUS=listening on "); ok {
				r.addr = a
			}
		}
		if r.addr == "" {
			t.Fatalf("READY=1 without the address: %q", msg)
		}
		return r
	}
}

// kill is kill -9, the way a power cut stops a process.
func (r *receiver) kill() {
	r.once.Do(func() {
		r.cmd.Process.Kill()
		r.err = <-r.done
	})
}

// stop is a clean stop (SIGTERM).
func (r *receiver) stop(t *testing.T) {
	r.once.Do(func() {
		r.cmd.Process.Signal(syscall.SIGTERM)
		r.err = <-r.done
	})
	if r.err != nil {
		t.Errorf("receiver exit: %v", r.err)
	}
}

func put(client *http.Client, addr, id string, body []byte, sum string) int {
	req := mustRequest(http.MethodPut, "http://"+addr+"/v1/episodes/"+id+".tar.zst", body)
	req.Header.Set("X-Cis490-Host", "lab1")
	req.Header.Set("X-Content-SHA256", sum)
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func mustRequest(method, url string, body []byte) *http.Request {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	if body == nil {
		req.Body = nil
	}
	return req
}
