// Command replicabench measures the receiver's replication to an S3 store
// (docs/BENCHMARKS.md, section "Replication") against versitygw on
// loopback: replicating 1 GiB as 16 × 64 MiB and as 4096 × 256 KiB beside
// `curl --aws-sigv4` PUTs of the same files to the same server in the same
// run; the receiver's peak RSS while it replicates 8 × 64 MiB; and the
// receiver's upload throughput with and without replication running.
// bench/replica/run.sh builds and runs it.
//
//	replicabench --receiver BIN --versitygw BIN --out DIR [--reps N]
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cis490/internal/s3"
	"cis490/internal/wire"
	"cis490/receiver/replicalog"
	"cis490/receiver/store"
)

const (
	accessKey = "benchkey"
	secretKey = "benchsecret"
	bucket    = "bench"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type bench struct {
	receiver, versitygw, out string
	reps                     int
	parts                    map[string]bool
	stdout                   io.Writer
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replicabench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	b := &bench{stdout: stdout}
	fs.StringVar(&b.receiver, "receiver", "", "cis490-receiver binary")
	fs.StringVar(&b.versitygw, "versitygw", "", "versitygw binary")
	fs.StringVar(&b.out, "out", "bench/out/replica", "work directory")
	fs.IntVar(&b.reps, "reps", 1, "repetitions (median reported)")
	parts := fs.String("parts", "large,small,rss,upload", "what to measure")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b.parts = map[string]bool{}
	for _, p := range strings.Split(*parts, ",") {
		b.parts[p] = true
	}
	if b.receiver == "" || b.versitygw == "" {
		fmt.Fprintln(stderr, "replicabench: --receiver and --versitygw are required")
		return 2
	}
	if err := b.suite(); err != nil {
		fmt.Fprintf(stderr, "replicabench: %v\n", err)
		return 1
	}
	return 0
}

// file is one generated episode.
type file struct {
	id, path, sha string
	size          int64
}

func (b *bench) suite() error {
	sets := []struct {
		name  string
		n     int
		size  int64
		label string
	}{{"large", 16, 64 << 20, "16 × 64 MiB"}, {"small", 4096, 256 << 10, "4096 × 256 KiB"}}
	fmt.Fprintln(b.stdout, "| set | curl --aws-sigv4 PUTs (2 parallel) | the same with the replicator's headers | replicator (concurrency 2) | ratio to plain curl | target ≥ 0.8× | ratio to curl with the headers |")
	fmt.Fprintln(b.stdout, "|---|---|---|---|---|---|---|")
	for _, set := range sets {
		if !b.parts[set.name] {
			continue
		}
		files, err := b.generate(set.name, set.n, set.size)
		if err != nil {
			return err
		}
		var curlR, curlH, replR []float64
		for rep := 0; rep < b.reps; rep++ {
			c, err := b.curlRun(set.name, files, false)
			if err != nil {
				return err
			}
			h, err := b.curlRun(set.name, files, true)
			if err != nil {
				return err
			}
			curlH = append(curlH, h)
			r, _, err := b.replicaRun(set.name, files)
			if err != nil {
				return err
			}
			curlR, replR = append(curlR, c), append(replR, r)
		}
		c, h, r := median(curlR), median(curlH), median(replR)
		fmt.Fprintf(b.stdout, "| %s | %.0f MiB/s | %.0f MiB/s | %.0f MiB/s | %.2f× | %s | %.2f× |\n", set.label, c, h, r, r/c, pass(r >= 0.8*c), r/h)
	}

	if b.parts["rss"] {
		if err := b.rss(); err != nil {
			return err
		}
	}
	if b.parts["upload"] {
		return b.uploads()
	}
	return nil
}

func (b *bench) rss() error {
	files, err := b.generate("rss", 8, 64<<20)
	if err != nil {
		return err
	}
	_, peak, err := b.replicaRun("rss", files)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.stdout, "\n| receiver peak VmRSS while replicating 8 × 64 MiB | target ≤ 30 MiB |\n|---|---|\n| %.1f MiB | %s |\n",
		float64(peak)/1024, pass(peak <= 30*1024))
	return nil
}

func (b *bench) uploads() error {
	large, err := b.generate("large", 16, 64<<20)
	if err != nil {
		return err
	}
	backlog, err := b.generate("rss", 8, 64<<20)
	if err != nil {
		return err
	}
	var without, with []float64
	for rep := 0; rep < b.reps; rep++ {
		w0, err := b.uploadRun(large, backlog, false)
		if err != nil {
			return err
		}
		w1, err := b.uploadRun(large, backlog, true)
		if err != nil {
			return err
		}
		without, with = append(without, w0), append(with, w1)
	}
	w0, w1 := median(without), median(with)
	fmt.Fprintf(b.stdout, "\n| uploads to the receiver, 16 × 64 MiB, 2 clients | without replication | with replication | loss | target ≤ 15 %% |\n|---|---|---|---|---|\n| | %.0f MiB/s | %.0f MiB/s | %.1f %% | %s |\n",
		w0, w1, 100*(1-w1/w0), pass(w1 >= 0.85*w0))
	return nil
}

func pass(ok bool) string {
	if ok {
		return "pass"
	}
	return "**fail**"
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// generate writes n random files of size under out/src-name once and
// returns them with their digests.
func (b *bench) generate(name string, n int, size int64) ([]file, error) {
	dir := filepath.Join(b.out, "src-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rng := rand.NewChaCha8([32]byte{byte(n), byte(size >> 20)})
	var files []file
	buf := make([]byte, 1<<20)
	for i := 0; i < n; i++ {
		f := file{id: fmt.Sprintf("%s-%04d", name, i), size: size}
		f.path = filepath.Join(dir, f.id+wire.EpisodeSuffix)
		shaPath := f.path + ".sha256"
		if sum, err := os.ReadFile(shaPath); err == nil {
			f.sha = strings.TrimSpace(string(sum))
			files = append(files, f)
			continue
		}
		out, err := os.Create(f.path)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		for left := size; left > 0; {
			chunk := buf[:min(int64(len(buf)), left)]
			rng.Read(chunk)
			out.Write(chunk)
			h.Write(chunk)
			left -= int64(len(chunk))
		}
		if err := out.Close(); err != nil {
			return nil, err
		}
		f.sha = hex.EncodeToString(h.Sum(nil))
		os.WriteFile(shaPath, []byte(f.sha+"\n"), 0o644)
		files = append(files, f)
	}
	return files, nil
}

// versity runs versitygw on a fresh directory and creates the bucket.
func (b *bench) versity(name string) (addr string, stop func(), err error) {
	dir := filepath.Join(b.out, "vgw-"+name)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	addr, err = freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(b.versitygw, "--access", accessKey, "--secret", secretKey, "--port", addr, "posix", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("versitygw did not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := s3.New(s3.Config{Endpoint: "http://" + addr, Bucket: bucket, AccessKeyID: accessKey, SecretAccessKey: secretKey, PathStyle: true})
	if err == nil {
		err = c.CreateBucket(context.Background())
	}
	if err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

// curlRun PUTs every file with curl --aws-sigv4, two at a time, and
// returns MiB/s. With headers, each PUT carries what the replicator's
// does: x-amz-checksum-sha256, the three x-amz-meta-* and a content type.
func (b *bench) curlRun(name string, files []file, headers bool) (float64, error) {
	addr, stop, err := b.versity("curl-" + name)
	if err != nil {
		return 0, err
	}
	defer stop()
	cfg := filepath.Join(b.out, "curl-"+name+".cfg")
	var sb strings.Builder
	for i, f := range files {
		if i > 0 {
			sb.WriteString("next\n") // options below apply to this transfer only
		}
		fmt.Fprintf(&sb, "url = \"http://%s/%s/curl/%s\"\nupload-file = \"%s\"\noutput = \"/dev/null\"\n", addr, bucket, f.id, f.path)
		fmt.Fprintf(&sb, "silent\nshow-error\nfail\naws-sigv4 = \"aws:amz:us-east-1:s3\"\nuser = \"%s:%s\"\nheader = \"x-amz-content-sha256: UNSIGNED-PAYLOAD\"\n", accessKey, secretKey)
		if headers {
			raw, _ := hex.DecodeString(f.sha)
			fmt.Fprintf(&sb, "header = \"x-amz-checksum-sha256: %s\"\nheader = \"x-amz-meta-cis490-host: lab1\"\n"+
				"header = \"x-amz-meta-cis490-commit: %s\"\nheader = \"x-amz-meta-cis490-received-at: 2026-12-04T21:00:00.000Z\"\n"+
				"header = \"Content-Type: application/zstd\"\n", base64.StdEncoding.EncodeToString(raw), f.sha[:40])
		}
	}
	if err := os.WriteFile(cfg, []byte(sb.String()), 0o644); err != nil {
		return 0, err
	}
	start := time.Now()
	// curl 7.88 signs no payload hash of its own; S3 wants the header.
	cmd := exec.Command("curl", "--parallel", "--parallel-max", "2", "-K", cfg)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("curl: %v: %s", err, out)
	}
	return mibps(files, time.Since(start)), nil
}

func mibps(files []file, d time.Duration) float64 {
	var n int64
	for _, f := range files {
		n += f.size
	}
	return float64(n) / (1 << 20) / d.Seconds()
}

// dataDir makes a receiver data directory holding files, stored through
// the store as uploads are.
func (b *bench) dataDir(name string, files []file) (string, error) {
	dir := filepath.Join(b.out, "data-"+name)
	os.RemoveAll(dir)
	st, _, err := store.Open(dir, store.Options{})
	if err != nil {
		return "", err
	}
	defer st.Close()
	for _, f := range files {
		in, err := os.Open(f.path)
		if err != nil {
			return "", err
		}
		unlock, _ := st.LockID(context.Background(), f.id)
		_, err = st.Ingest(f.id, in, f.size, f.sha, store.Meta{Host: "lab1"}, nil)
		unlock()
		in.Close()
		if err != nil {
			return "", err
		}
	}
	return dir, nil
}

// replicaRun starts a receiver over a data directory holding files, with
// replication to a fresh versitygw, and returns MiB/s from READY=1 until
// replica.jsonl holds every file, and the peak VmRSS (KiB) meanwhile.
func (b *bench) replicaRun(name string, files []file) (float64, int64, error) {
	dir, err := b.dataDir(name, files)
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	addr, stop, err := b.versity("repl-" + name)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	p, err := b.startReceiver(dir, addr)
	if err != nil {
		return 0, 0, err
	}
	defer p.stop()
	start := time.Now()
	peak := int64(0)
	for {
		if rss := vmRSS(p.cmd.Process.Pid); rss > peak {
			peak = rss
		}
		n := 0
		replicalog.ReadFile(dir, func(replicalog.Row) { n++ })
		if n >= len(files) {
			break
		}
		if time.Since(start) > 20*time.Minute {
			return 0, 0, fmt.Errorf("replication of %s did not finish (see %s)", name, p.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return mibps(files, time.Since(start)), peak, nil
}

// uploadRun uploads files to a receiver (two clients) whose data
// directory already holds backlog, with or without replication, and
// returns the upload MiB/s.
func (b *bench) uploadRun(files, backlog []file, replicate bool) (float64, error) {
	dir, err := b.dataDir("upload", backlog)
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	s3addr := ""
	if replicate {
		addr, stop, err := b.versity("upload")
		if err != nil {
			return 0, err
		}
		defer stop()
		s3addr = addr
	}
	p, err := b.startReceiver(dir, s3addr)
	if err != nil {
		return 0, err
	}
	defer p.stop()
	work := make(chan file)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < 2; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				in, err := os.Open(f.path)
				if err != nil {
					errc <- err
					return
				}
				req, _ := http.NewRequest(http.MethodPut, "http://"+p.addr+wire.EpisodeURLPath("up-"+f.id), in)
				req.ContentLength = f.size
				req.Header.Set(wire.HeaderHost, "lab1")
				req.Header.Set(wire.HeaderSHA256, f.sha)
				resp, err := http.DefaultClient.Do(req)
				in.Close()
				if err != nil {
					errc <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errc <- fmt.Errorf("upload %s: %d", f.id, resp.StatusCode)
					return
				}
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	d := time.Since(start)
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	return mibps(files, d), nil
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	log  string
}

func (p *proc) stop() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }

// startReceiver runs the receiver over dir (replicating to s3addr unless
// it is empty) and waits for READY=1 on a notify socket.
func (b *bench) startReceiver(dir, s3addr string) (*proc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("[server]\nlisten = %q\ndata_dir = %q\nmin_free_bytes = 0\n[version_gate]\nenabled = false\n", addr, dir)
	if s3addr != "" {
		cfg += fmt.Sprintf("[replica]\nendpoint = \"http://%s\"\nbucket = %q\naccess_key_id = %q\nsecret_access_key = %q\n",
			s3addr, bucket, accessKey, secretKey)
	}
	cfgPath := dir + ".toml"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	sockPath := filepath.Join(os.TempDir(), fmt.Sprintf("replicabench-%d-%d.sock", os.Getpid(), time.Now().UnixNano()))
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	defer os.Remove(sockPath)
	defer sock.Close()
	logPath := dir + ".log"
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.receiver, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, addr: addr, log: logPath}
	buf := make([]byte, 4096)
	sock.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		n, _, err := sock.ReadFromUnix(buf)
		if err != nil {
			p.stop()
			return nil, fmt.Errorf("receiver never sent READY=1 (see %s): %w", logPath, err)
		}
		if bytes.Contains(buf[:n], []byte("READY=1")) {
			return p, nil
		}
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// vmRSS returns a process's VmRSS in KiB (0 if unreadable).
func vmRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
