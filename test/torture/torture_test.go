package torture

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// plan is one torture configuration.
type plan struct {
	name             string
	hosts, episodes  int
	minSize, maxSize int64
	// faultPhase is how long faults are injected; episodes are written
	// during its first 80 %.
	faultPhase time.Duration
	// Gaps between receiver kills and between shipper kills, drawn
	// uniformly from [lo, hi).
	receiverKill, shipperKill [2]time.Duration
	// drainDeadline bounds the wait, after the faults stop, for every
	// episode to be retired.
	drainDeadline time.Duration
	seed          uint64
}

var plans = map[string]plan{
	"short": {
		name: "short", hosts: 8, episodes: 10, minSize: 10 << 10, maxSize: 2 << 20,
		faultPhase:    45 * time.Second,
		receiverKill:  [2]time.Duration{5 * time.Second, 10 * time.Second},
		shipperKill:   [2]time.Duration{time.Second, 3 * time.Second},
		drainDeadline: 90 * time.Second,
		seed:          490,
	},
	"long": {
		name: "long", hosts: 50, episodes: 40, minSize: 10 << 10, maxSize: 20 << 20,
		faultPhase:    25 * time.Minute,
		receiverKill:  [2]time.Duration{5 * time.Second, 15 * time.Second},
		shipperKill:   [2]time.Duration{500 * time.Millisecond, 2 * time.Second},
		drainDeadline: 10 * time.Minute,
		seed:          490,
	},
}

// Settings shared by every plan.
const (
	gateCommits   = 60 // commits the fake Forgejo lists
	gateWindow    = 40 // of which the newest 40 pass the gate
	timeoutS      = 3  // shipper timeout_s and receiver body_idle_timeout_s
	stallMax      = 6 * time.Second
	hugeFreeBytes = 1 << 62 // min_free_bytes that forces 507
	token         = "torture-token-0123456789abcdef"
)

// selectedPlan is the short plan, or the one named by $CIS490_TORTURE
// ("long"); $CIS490_TORTURE_SEED overrides the seed.
func selectedPlan(t *testing.T) plan {
	name := os.Getenv("CIS490_TORTURE")
	if name == "" {
		name = "short"
	}
	p, ok := plans[name]
	if !ok {
		t.Fatalf("CIS490_TORTURE=%q: want short or long", name)
	}
	if s := os.Getenv("CIS490_TORTURE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CIS490_TORTURE_SEED=%q: %v", s, err)
		}
		p.seed = n
	}
	return p
}

// TestTorture runs one receiver and many shippers on loopback through a
// fault proxy, kills both at random, fills the receiver's disk and takes
// the gate's upstream down for a while, and then proves that every episode
// ended where SPEC §3 and §4.2 say: valid ones stored exactly once and
// byte-identical, refused ones quarantined for the right reason, nothing
// left in tmp/ or any outbox, fsck clean.
func TestTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binaries for minutes")
	}
	p := selectedPlan(t)
	h := newHarness(t, p)
	start := time.Now()
	h.run()
	fig := h.check()
	fig.elapsed = time.Since(start)
	h.report(fig)
}

// harness owns every process and fault of one run.
type harness struct {
	t     *testing.T
	p     plan
	bin   string
	dir   string
	logs  string
	proxy *faultProxy
	fj    *fakeForgejo
	recv  *receiverCtl
	hosts []*shipperHost
	specs []*episodeSpec

	shipperKills atomic.Int64
	diskFull     time.Duration // time spent answering 507
	gateDown     time.Duration // time the gate's upstream was down

	errMu sync.Mutex
	errs  []string // harness failures found by goroutines
}

func newHarness(t *testing.T, p plan) *harness {
	h := &harness{t: t, p: p, bin: binaries(t), dir: t.TempDir()}
	h.logs = filepath.Join(h.dir, "logs")
	mustMkdir(t, h.logs)
	if d := os.Getenv("CIS490_TORTURE_LOGS"); d != "" {
		h.logs = d // kept after the run for reading
		mustMkdir(t, h.logs)
	}
	var err error
	h.proxy, err = newFaultProxy(p.seed, stallMax)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.proxy.close)
	h.fj = newFakeForgejo(gateCommits)
	t.Cleanup(h.fj.srv.Close)

	tokenFile := filepath.Join(h.dir, "token")
	mustWrite(t, tokenFile, token+"\n")
	rdata := filepath.Join(h.dir, "receiver")
	h.recv = &receiverCtl{
		bin: filepath.Join(h.bin, "cis490-receiver"), dataDir: rdata,
		logPath: filepath.Join(h.logs, "receiver.log"), proxy: h.proxy,
		cfgNormal: filepath.Join(h.dir, "receiver.toml"),
		cfgFull:   filepath.Join(h.dir, "receiver-full.toml"),
	}
	for cfg, minFree := range map[string]int64{h.recv.cfgNormal: 1 << 20, h.recv.cfgFull: hugeFreeBytes} {
		mustWrite(t, cfg, fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
data_dir = %q
min_free_bytes = %d
body_idle_timeout_s = %d

[auth]
token_file = %q

[version_gate]
enabled = true
forgejo_url = %q
repo_owner = %q
repo_name = %q
window = %d
refresh_s = 1
`, rdata, minFree, timeoutS, tokenFile, h.fj.srv.URL, forgejoOwner, forgejoRepo, gateWindow))
	}

	for i := range p.hosts {
		sh := &shipperHost{
			id: hostID(i), dir: filepath.Join(h.dir, "hosts", hostID(i)),
			log: filepath.Join(h.logs, hostID(i)+".log"),
			// Two in three hosts run the daemon; the others run --once
			// again and again, as a timer would.
			daemon: i%3 != 2,
		}
		sh.cfg = filepath.Join(h.dir, hostID(i)+".toml")
		mustMkdir(t, filepath.Join(sh.dir, "episodes"))
		mustWrite(t, sh.cfg, fmt.Sprintf(`host_id = %q

[paths]
data_dir = %q

[receiver]
url = "http://%s"
token_file = %q
timeout_s = %d

[shipper]
scan_interval_s = 1
settle_s = 0
backoff_min_s = 1
backoff_max_s = 3
`, sh.id, sh.dir, h.proxy.addr(), tokenFile, timeoutS))
		h.hosts = append(h.hosts, sh)
		for e := range p.episodes {
			sp := planEpisode(p.seed, i, e, p.minSize, p.maxSize, h.fj.commits, gateWindow)
			h.specs = append(h.specs, &sp)
		}
	}
	kinds := map[episodeKind]int{}
	for _, sp := range h.specs {
		kinds[sp.kind]++
	}
	if kinds[kindValid] == 0 || kinds[kindStale] == 0 || kinds[kindUnstamped] == 0 {
		t.Fatalf("plan %s seed %d draws %v; every kind must occur", p.name, p.seed, kinds)
	}
	return h
}

// fail records a failure found off the test goroutine.
func (h *harness) fail(format string, args ...any) {
	h.errMu.Lock()
	defer h.errMu.Unlock()
	h.errs = append(h.errs, fmt.Sprintf(format, args...))
}

// run drives the whole fault phase and waits for the drain.
func (h *harness) run() {
	t := h.t
	ctx, cancel := context.WithTimeout(context.Background(), h.p.faultPhase+h.p.drainDeadline+5*time.Minute)
	defer cancel()
	if err := h.recv.restart(ctx, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.recv.stopNow)

	shipCtx, stopShippers := context.WithCancel(ctx)
	var shippers sync.WaitGroup
	for _, sh := range h.hosts {
		shippers.Add(1)
		go func() {
			defer shippers.Done()
			sh.supervise(shipCtx, h)
		}()
	}
	defer func() {
		stopShippers()
		shippers.Wait()
	}()

	faultCtx, endFaults := context.WithTimeout(ctx, h.p.faultPhase)
	defer endFaults()
	h.proxy.faulty.Store(true)
	t.Logf("torture %s: %d hosts x %d episodes, faults for %s, seed %d, logs in %s",
		h.p.name, h.p.hosts, h.p.episodes, h.p.faultPhase, h.p.seed, h.logs)

	var bg sync.WaitGroup
	start := time.Now()
	bg.Add(4)
	go func() { defer bg.Done(); h.produce(faultCtx, start) }()
	go func() { defer bg.Done(); h.killReceivers(faultCtx) }()
	go func() { defer bg.Done(); h.killShippers(faultCtx) }()
	go func() { defer bg.Done(); h.windows(faultCtx, start) }()
	bg.Wait()

	// Faults over: a clean network, a healthy receiver with room and a
	// gate upstream that answers. Everything must now drain.
	h.proxy.faulty.Store(false)
	h.fj.down.Store(false)
	if h.recv.isFull() || !h.recv.running() {
		if err := h.recv.restart(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	h.errMu.Lock()
	errs := h.errs
	h.errMu.Unlock()
	for _, e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("faults stopped after %s; draining", time.Since(start).Round(time.Second))
	if err := h.waitDrained(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("drained %s after the faults stopped", time.Since(start.Add(h.p.faultPhase)).Round(time.Second))
	stopShippers()
	shippers.Wait()
	if !h.recv.stop() {
		t.Error("receiver did not stop within 15 s of SIGTERM")
	}
}

// produce writes every planned episode during the first 80 % of the fault
// phase, each host on its own schedule.
func (h *harness) produce(ctx context.Context, start time.Time) {
	span := h.p.faultPhase * 8 / 10
	var wg sync.WaitGroup
	for i, sh := range h.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(h.p.seed, uint64(i)|1<<40))
			for e := range h.p.episodes {
				sp := h.specs[i*h.p.episodes+e]
				due := start.Add(time.Duration((float64(e) + rng.Float64()) * float64(span) / float64(h.p.episodes)))
				// When the phase ends early (an overall deadline) the
				// rest are written at once.
				_ = sleepUntil(ctx, due)
				if err := sp.write(filepath.Join(sh.dir, "episodes")); err != nil {
					h.fail("write %s: %v", sp.id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// killReceivers kill -9s and restarts the receiver at random moments.
func (h *harness) killReceivers(ctx context.Context) {
	rng := rand.New(rand.NewPCG(h.p.seed, 0x4ec))
	for ctx.Err() == nil {
		if !sleepUntil(ctx, time.Now().Add(between(rng, h.p.receiverKill))) {
			return
		}
		if err := h.recv.restart(ctx, h.recv.isFull()); err != nil && ctx.Err() == nil {
			h.fail("receiver restart: %v", err)
			return
		}
	}
}

// killShippers kill -9s a random host's daemon or --once run at random
// moments; the host's supervisor starts it again, as systemd would.
func (h *harness) killShippers(ctx context.Context) {
	rng := rand.New(rand.NewPCG(h.p.seed, 0x5419))
	for ctx.Err() == nil {
		if !sleepUntil(ctx, time.Now().Add(between(rng, h.p.shipperKill))) {
			return
		}
		if h.hosts[rng.IntN(len(h.hosts))].kill() {
			h.shipperKills.Add(1)
		}
	}
}

// windows runs the two long faults: a disk too full to store anything
// (25–40 % of the phase) and a dead gate upstream (55–75 %), with a receiver
// restart inside it so the gate also runs without any list.
func (h *harness) windows(ctx context.Context, start time.Time) {
	at := func(frac float64) time.Time {
		return start.Add(time.Duration(frac * float64(h.p.faultPhase)))
	}
	if !sleepUntil(ctx, at(0.25)) {
		return
	}
	fullFrom := time.Now()
	if err := h.recv.restart(ctx, true); err != nil {
		h.fail("receiver restart (disk full): %v", err)
		return
	}
	ok := sleepUntil(ctx, at(0.40))
	if err := h.recv.restart(ctx, false); err != nil && ctx.Err() == nil {
		h.fail("receiver restart (disk free): %v", err)
		return
	}
	h.diskFull = time.Since(fullFrom)
	if !ok || !sleepUntil(ctx, at(0.55)) {
		return
	}
	downFrom := time.Now()
	h.fj.down.Store(true)
	defer func() {
		h.fj.down.Store(false)
		h.gateDown = time.Since(downFrom)
	}()
	if !sleepUntil(ctx, at(0.60)) {
		return
	}
	if err := h.recv.restart(ctx, false); err != nil && ctx.Err() == nil {
		h.fail("receiver restart (gate down): %v", err)
		return
	}
	sleepUntil(ctx, at(0.75))
}

// waitDrained waits until every episode was written and every host's
// episodes/ and outbox/ are empty, or the drain deadline passes.
func (h *harness) waitDrained(ctx context.Context) error {
	deadline := time.Now().Add(h.p.drainDeadline)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		left := h.leftovers()
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if len(left) > 20 {
				left = append(left[:20], fmt.Sprintf("… %d more", len(left)-20))
			}
			return fmt.Errorf("not drained within %s of the faults stopping: %s", h.p.drainDeadline, strings.Join(left, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// leftovers lists what is still in an episodes/ or outbox/ directory.
func (h *harness) leftovers() []string {
	var left []string
	for _, sh := range h.hosts {
		for _, sub := range []string{"episodes", "outbox"} {
			names, err := readNames(filepath.Join(sh.dir, sub))
			if err != nil {
				left = append(left, err.Error())
			}
			for _, n := range names {
				left = append(left, sh.id+"/"+sub+"/"+n)
			}
		}
	}
	return left
}

func between(rng *rand.Rand, r [2]time.Duration) time.Duration {
	return r[0] + time.Duration(rng.Int64N(int64(r[1]-r[0])))
}

// sleepUntil waits for the fault schedule; it reports false when ctx ended
// first.
func sleepUntil(ctx context.Context, when time.Time) bool {
	d := time.Until(when)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func readNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, err
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
