package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cis490/internal/testutil"
)

// child is one shipper process started from the test binary (TestMain).
type child struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startChild(tb testing.TB, notify string, args ...string) *child {
	tb.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...)}
	// GORACE: a race-enabled child would otherwise sleep 1 s at exit.
	c.cmd.Env = append(os.Environ(), "CIS490_SHIPPER_CHILD=1", "NOTIFY_SOCKET="+notify, "GORACE=atexit_sleep_ms=0")
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return c
}

// killPlan says when the fake receiver kills the running shipper: at its
// n-th request of this run, before answering it (the body may or may not be
// stored) or right after answering it (the shipper is mid-retire or
// mid-pack when the signal lands).
type killPlan struct {
	at         int
	storeFirst bool
	afterReply bool
}

// TestCrashRecovery kills the real shipper with SIGKILL at random points of
// its passes, restarts it, and checks that every episode ends in shipped/
// exactly once, the receiver stored each id once, and the outbox is empty.
func TestCrashRecovery(t *testing.T) {
	const episodes, wantKills = 20, 50
	if testing.Short() {
		t.Skip("runs the shipper ~70 times")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 490))

	f := newFakeReceiver(t)
	sock := testutil.ListenNotify(t, false)
	datagrams := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := sock.Conn.Read(buf)
			if err != nil {
				close(datagrams)
				return
			}
			datagrams <- string(buf[:n])
		}
	}()

	var (
		mu       sync.Mutex
		cur      *child
		requests int
		plan     killPlan
		killed   = make(chan struct{}, 1)
	)
	// kill SIGKILLs c and reports it, unless the test has already moved on
	// to another child.
	kill := func(c *child) {
		c.cmd.Process.Kill()
		mu.Lock()
		current := cur == c
		mu.Unlock()
		if current {
			select {
			case killed <- struct{}{}:
			default:
			}
		}
	}
	f.mu.Lock()
	f.onRequest = func(r *http.Request) bool {
		mu.Lock()
		requests++
		hit := requests == plan.at && cur != nil
		p, c := plan, cur
		mu.Unlock()
		if !hit {
			return false
		}
		switch {
		case p.afterReply:
			// Let this answer go out; the kill lands somewhere after it.
			go kill(c)
			return false
		case p.storeFirst && r.Method == http.MethodPut:
			// The receiver commits the body, then the shipper dies before
			// hearing the 2xx: the restart must meet "duplicate".
			f.storeWithoutAnswer(r)
			kill(c)
			return true
		}
		kill(c)
		return true
	}
	f.mu.Unlock()

	kills := 0
	for round := 0; kills < wantKills; round++ {
		dataDir := t.TempDir()
		var ids []string
		for i := 0; i < episodes; i++ {
			id := fmt.Sprintf("r%02d-ep-%02d", round, i)
			ids = append(ids, id)
			mustEpisode(t, filepath.Join(dataDir, "episodes"), id)
		}
		cfg := mustConfig(t, dataDir, f.URL, "scan_interval_s = 1", "backoff_min_s = 1", "backoff_max_s = 1")

		for k := 3 + rng.IntN(5); k > 0 && kills < wantKills; k-- {
			left, _ := os.ReadDir(filepath.Join(dataDir, "episodes"))
			if len(left) == 0 {
				break
			}
			mu.Lock()
			requests = 0
			// About two requests (HEAD, PUT) per episode left.
			plan = killPlan{at: 1 + rng.IntN(2*len(left)), storeFirst: rng.IntN(2) == 0, afterReply: rng.IntN(3) == 0}
			mu.Unlock()
			c := startChild(t, sock.Name, "--config", cfg)
			mu.Lock()
			cur = c
			mu.Unlock()
			drained := false
		wait:
			for {
				select {
				case <-killed:
					kills++
					break wait
				case d, ok := <-datagrams:
					if !ok {
						t.Fatal("notify socket closed")
					}
					if strings.HasPrefix(d, "STATUS=pending 0,") {
						drained = true // the queue emptied before the kill point
						c.cmd.Process.Kill()
						break wait
					}
				}
			}
			c.cmd.Wait()
			mu.Lock()
			cur, plan = nil, killPlan{}
			mu.Unlock()
			// Drop notifications and kill reports of the dead process.
			for len(datagrams) > 0 {
				<-datagrams
			}
			select {
			case <-killed:
			default:
			}
			if drained {
				break
			}
		}

		// A clean run finishes whatever the kills left.
		c := startChild(t, sock.Name, "--once", "--json", "--config", cfg)
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("round %d: final --once: %v\n%s%s", round, err, c.stdout.String(), c.stderr.String())
		}
		checkCrashRound(t, round, dataDir, ids, f)
	}
	t.Logf("%d kills", kills)
	if f.conflicts != 0 {
		t.Errorf("receiver answered 409 %d times: a re-pack changed bytes", f.conflicts)
	}
}

// storeWithoutAnswer commits a PUT body in the fake receiver without
// answering it.
func (f *fakeReceiver) storeWithoutAnswer(r *http.Request) {
	rec := &discardResponse{h: http.Header{}}
	f.serve(rec, r)
}

// discardResponse is an http.ResponseWriter that drops the answer.
type discardResponse struct{ h http.Header }

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardResponse) WriteHeader(int)             {}

func checkCrashRound(t *testing.T, round int, dataDir string, ids []string, f *fakeReceiver) {
	t.Helper()
	for _, sub := range []string{"episodes", "outbox", "quarantine"} {
		ents, _ := os.ReadDir(filepath.Join(dataDir, sub))
		if len(ents) != 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("round %d: %s/ holds %v", round, sub, names)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dataDir, "shipped"))
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("round %d: shipped/ = %v, want each id once", round, got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if f.stores[id] != 1 {
			t.Errorf("round %d: receiver stored %s %d times", round, id, f.stores[id])
		}
	}
}
