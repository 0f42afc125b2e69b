package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cis490/receiver/datadir"
)

// Targets of every configuration, in the order of the first repetition;
// later repetitions rotate it so no target always runs first.
var targets = []string{"hash", "write", "serial", "receiver"}

// benchToken is the bearer token the benchmark's receiver requires.
const benchToken = "receiverbench-token"

// shape is one upload configuration: count bodies of size bytes over
// clients connections.
type shape struct {
	name    string
	size    int
	count   int
	clients int
	corpus  *corpus
}

type suite struct {
	bin     string
	out     string
	reps    int
	stdout  io.Writer
	stderr  io.Writer
	recv    *receiverProc
	recvDir string
	baseDir string
	base    string // baseline address
	basePID int

	rest     *restProc // rest-server --no-verify-upload, a peer; nil when not given
	restDir  string
	restV    *restProc // rest-server as it comes, verifying uploads; nil when not given
	restVDir string
	slice    int // uploads per slice of a small shape; 0: one run per target

	cg *memcg // caps the servers' page cache; nil when unavailable

	times map[string]map[string][]time.Duration // shape → target → runs
	cpu   map[string]map[string][]time.Duration // server CPU time per run
	self  map[string]map[string][]time.Duration // client CPU time per run
	mem   memReport

	flushes map[string][]flushSample // shape → flush probe before every round
	rounds  map[string]int           // shape → rounds of slices (sliced shapes only)
}

// memReport holds the receiver's resident memory in KiB.
type memReport struct {
	idleStart     procMem
	peakSampled   int64 // largest VmRSS sampled during the 8 × 64 MiB runs
	peakHWM       int64 // largest VmHWM over those runs (reset before each)
	idleAfterLoad procMem
	startup       [2]startupResult // 0 rows, N rows
}

func runSuite(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("receiver", "", "cis490-receiver binary to benchmark (required)")
	out := fs.String("out", "bench/out/receiver", "scratch directory for every data directory of the run")
	reps := fs.Int("reps", 5, "repetitions of every measurement; the median is reported")
	total := fs.Int64("total", 1<<30, "bytes uploaded per measurement")
	rows := fs.Int("rows", 100_000, "index rows and store files for the start-up measurement")
	startReps := fs.Int("startup-reps", 5, "start-ups per data directory")
	arm64 := fs.String("arm64", "", "stripped linux/arm64 receiver binary whose size to report")
	only := fs.String("only", "", "run only upload shapes whose name contains this, e.g. 64MiB-8 (quick checks)")
	startup := fs.Bool("startup", true, "measure start-up time and idle RSS with 0 and --rows rows")
	pageCache := fs.Int64("page-cache", 2<<30, "memory cgroup limit for the servers, capping their page cache (0: none)")
	slice := fs.Int("slice", 256, "small uploads: uploads per slice; the servers alternate slice by slice, --total bytes each (0: one run per server per repetition)")
	rest := fs.String("rest-server", "", "rest-server binary to compare small uploads with (optional)")
	if err := fs.Parse(args); err != nil || *bin == "" || fs.NArg() != 0 || *slice < 0 {
		fmt.Fprintln(stderr, "usage: receiverbench suite --receiver BIN [--out DIR] [--reps N] [--arm64 BIN] [--slice N] [--rest-server BIN]")
		return 2
	}
	s := &suite{bin: *bin, out: *out, reps: *reps, stdout: stdout, stderr: stderr, slice: *slice,
		times: map[string]map[string][]time.Duration{}, cpu: map[string]map[string][]time.Duration{},
		self: map[string]map[string][]time.Duration{}, flushes: map[string][]flushSample{}, rounds: map[string]int{}}
	if !*startup {
		*startReps = 0
	}
	if *pageCache > 0 {
		cg, err := newMemcg(*pageCache)
		if err != nil {
			s.logf("page cache not capped (%v): expect runs to slow down as fresh memory is written", err)
		} else {
			s.logf("servers run in memory cgroup %s limited to %d MiB", cg.dir, *pageCache>>20)
			s.cg = cg
			defer cg.close()
		}
	}
	if err := s.run(*total, *rows, *startReps, *arm64, *only, *rest); err != nil {
		fmt.Fprintln(stderr, "receiverbench:", err)
		return 1
	}
	return 0
}

func (s *suite) run(total int64, rows, startReps int, arm64, only, restBin string) error {
	if err := os.MkdirAll(s.out, 0o750); err != nil {
		return err
	}
	abs, err := filepath.Abs(s.out)
	if err != nil {
		return err
	}
	s.out = abs
	s.recvDir = filepath.Join(s.out, "receiver-data")
	s.baseDir = filepath.Join(s.out, "baseline-data")
	s.restDir = filepath.Join(s.out, "rest-server-data")
	s.restVDir = filepath.Join(s.out, "rest-verify-data")
	// A previous run's directories go to trash/, not away: freeing their
	// inodes would slow file creation for minutes (see clean).
	trash := filepath.Join(s.out, "trash", strconv.FormatInt(time.Now().UnixNano(), 10))
	for _, d := range []string{s.recvDir, s.baseDir, s.restDir, s.restVDir} {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		if err := os.MkdirAll(trash, 0o750); err != nil {
			return err
		}
		if err := os.Rename(d, filepath.Join(trash, filepath.Base(d))); err != nil {
			return err
		}
	}
	fsName, dev := fsInfo(s.out)
	s.logf("data directories under %s (%s, device %d:%d); receiver and baselines write to the same file system",
		s.out, fsName, dev>>8, dev&0xff)

	s.logf("generating bodies")
	large := newCorpus(64<<20, 4, 1)
	small := newCorpus(256<<10, 64, 2)
	shapes := []shape{
		{name: "64MiB-1", size: 64 << 20, clients: 1, corpus: &large},
		{name: "64MiB-8", size: 64 << 20, clients: 8, corpus: &large},
		{name: "256KiB-1", size: 256 << 10, clients: 1, corpus: &small},
		{name: "256KiB-8", size: 256 << 10, clients: 8, corpus: &small},
	}
	for i := range shapes {
		shapes[i].count = int(total / int64(shapes[i].size))
		if shapes[i].size < 1<<20 && s.slice > 0 {
			s.rounds[shapes[i].name] = max(1, shapes[i].count/s.slice)
			shapes[i].count = min(s.slice, shapes[i].count)
		}
	}

	var cmdErr error
	baseCmd, baseAddr, err := startBaseline(s.baseDir, filepath.Join(s.out, "baseline.log"))
	if err != nil {
		return err
	}
	defer func() {
		baseCmd.Process.Signal(syscall.SIGTERM)
		baseCmd.Wait()
	}()
	s.base = baseAddr
	s.basePID = baseCmd.Process.Pid
	if err := s.cg.add(s.basePID); err != nil {
		return err
	}

	if restBin != "" {
		for _, p := range []struct {
			proc   **restProc
			name   string
			dir    string
			verify bool
			how    string
		}{
			{&s.rest, "rest-server", s.restDir, false, "--no-auth --no-verify-upload"},
			{&s.restV, "rest-verify", s.restVDir, true, "--no-auth: rest-server as it comes, verifying uploads"},
		} {
			rp, err := startRestServer(restBin, p.dir, filepath.Join(s.out, p.name+".log"), p.verify)
			if err != nil {
				return err
			}
			defer rp.stop()
			*p.proc = rp
			if err := s.cg.add(rp.cmd.Process.Pid); err != nil {
				return err
			}
			s.logf("%s at %s over %s (%s)", p.name, rp.addr, p.dir, p.how)
		}
	}

	addr, err := freePort()
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(s.out, "receiver.toml")
	if err := writeConfig(cfgPath, s.recvDir, addr, true); err != nil {
		return err
	}
	s.recv, err = startReceiver(s.bin, []string{"serve", "--config", cfgPath}, addr, filepath.Join(s.out, "receiver.log"))
	if err != nil {
		return err
	}
	defer func() {
		if s.recv != nil {
			s.recv.stop()
		}
	}()
	if err := s.cg.add(s.recv.cmd.Process.Pid); err != nil {
		return err
	}
	time.Sleep(time.Second) // let start-up garbage settle before reading idle RSS
	if s.mem.idleStart, err = readMem(s.recv.cmd.Process.Pid); err != nil {
		return err
	}

	for _, sh := range shapes {
		if only != "" && !strings.Contains(sh.name, only) {
			continue
		}
		measure := s.measure
		if n := s.rounds[sh.name]; n > 0 {
			measure = func(sh shape) error { return s.measureSliced(sh, n) }
		}
		if err := measure(sh); err != nil {
			return fmt.Errorf("%s: %w", sh.name, err)
		}
		for _, t := range append(targets, peers...) {
			s.clean(t)
		}
	}
	time.Sleep(3 * time.Second)
	s.mem.idleAfterLoad, _ = readMem(s.recv.cmd.Process.Pid)
	cmdErr = s.recv.stop()
	s.recv = nil
	if cmdErr != nil {
		s.logf("receiver exit: %v", cmdErr)
	}

	if startReps > 0 {
		if err := s.startups(rows, startReps); err != nil {
			return err
		}
	}
	s.report(shapes, rows, arm64, startReps > 0)
	return nil
}

// measure runs one shape reps times against every target.
func (s *suite) measure(sh shape) error {
	s.times[sh.name] = map[string][]time.Duration{}
	s.cpu[sh.name] = map[string][]time.Duration{}
	s.self[sh.name] = map[string][]time.Duration{}
	for rep := 0; rep < s.reps; rep++ {
		for k := range targets {
			t := targets[(k+rep)%len(targets)]
			addr, prefix, token := s.base, "/"+t+"/", ""
			if t == "receiver" {
				addr, prefix, token = s.recv.addr, "/v1/episodes/", benchToken
			}
			ups := prepare(*sh.corpus, sh.count, prefix, fmt.Sprintf("r%d-%s-%s", rep, sh.name, t), token)
			syscall.Sync()
			var smp *sampler
			pid := s.recv.cmd.Process.Pid
			watch := t == "receiver" && sh.size == 64<<20 && sh.clients == 8
			if watch {
				if err := resetHWM(pid); err != nil {
					s.logf("cannot reset VmHWM: %v", err)
				}
				smp = sampleRSS(pid, 5*time.Millisecond)
			}
			server := s.basePID
			if t == "receiver" {
				server = pid
			}
			cpu0, self0 := cpuTicks(server), cpuTicks(os.Getpid())
			d, err := load(addr, ups, sh.clients)
			cpu1, self1 := cpuTicks(server), cpuTicks(os.Getpid())
			if watch {
				s.mem.peakSampled = max(s.mem.peakSampled, smp.Stop())
				if m, err := readMem(pid); err == nil {
					s.mem.peakHWM = max(s.mem.peakHWM, m.HWM)
				}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			s.times[sh.name][t] = append(s.times[sh.name][t], d)
			s.cpu[sh.name][t] = append(s.cpu[sh.name][t], time.Duration(cpu1-cpu0)*10*time.Millisecond)
			s.self[sh.name][t] = append(s.self[sh.name][t], time.Duration(self1-self0)*10*time.Millisecond)
			bytes := float64(sh.size) * float64(sh.count)
			s.logf("%-8s rep %d %-8s %8.1f MB/s %8.1f uploads/s  server CPU %5.2fs client CPU %5.2fs", sh.name, rep+1, t,
				bytes/d.Seconds()/1e6, float64(sh.count)/d.Seconds(), float64(cpu1-cpu0)/100, float64(self1-self0)/100)
		}
	}
	return nil
}

// clean empties what a target stored, truncating every file to nothing: its
// blocks are freed, its inode is kept. It runs after every repetition of a
// shape is done, not between runs.
//
// The suite frees no inodes while it runs because ext4 without a journal
// (this VM's root) refuses to reuse a freed inode for 60 s, and for 300 s
// more while its inode table block is dirty (RECENTCY_MIN and
// RECENTCY_DIRTY in fs/ext4/ialloc.c); the receiver's spares, created ahead
// and fsynced only when used, keep their blocks dirty. While such inodes
// are about, every file creation in their block group reads the inode
// table for each of them, from the group's first inode on: after a cleanup
// of a few thousand files, a fifth of the receiver's CPU went there. It
// lands unevenly: rest-server spreads its files over 256 directories, so
// over many block groups, while the receiver's and serial's files share
// one directory's group. A receiver never deletes stored files, so this is
// not a cost of serving; a previous run's directories are moved to trash/
// for the same reason (remove bench/out when done, not right before a run).
func (s *suite) clean(target string) {
	var dirs []string
	switch target {
	case "receiver":
		// Not tmp/: the running receiver keeps its spare upload files
		// there and removes its own.
		dirs = []string{datadir.New(s.recvDir).Store()}
	case "write":
		dirs = []string{filepath.Join(s.baseDir, writeDir)}
	case "serial":
		dirs = []string{datadir.New(filepath.Join(s.baseDir, serialDir)).Store(), datadir.New(filepath.Join(s.baseDir, serialDir)).Tmp()}
	case "rest-server":
		dirs, _ = filepath.Glob(filepath.Join(s.restDir, "data", "*"))
	case "rest-verify":
		dirs, _ = filepath.Glob(filepath.Join(s.restVDir, "data", "*"))
	}
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			os.Truncate(filepath.Join(d, e.Name()), 0)
		}
	}
}

// writeConfig writes a receiver config for the benchmark: no free-space
// floor, the gate off, one shared token.
func writeConfig(path, dataDir, addr string, withToken bool) error {
	c := fmt.Sprintf("[server]\nlisten = %q\ndata_dir = %q\nmin_free_bytes = 0\n\n[version_gate]\nenabled = false\n", addr, dataDir)
	if withToken {
		c += fmt.Sprintf("\n[auth]\ntoken = %q\n", benchToken)
	}
	return os.WriteFile(path, []byte(c), 0o600)
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.stderr, format+"\n", args...)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	c := slices.Clone(ds)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}
