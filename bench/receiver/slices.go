package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// Small uploads cost a few flushes each, and this machine's flush latency
// drifts by a factor of three within minutes. One long run per server then
// measures the disk of that minute as much as the server. Small shapes are
// therefore cut into slices of a few hundred uploads that alternate the
// servers (serial, receiver, the peers; the order rotates each round), and
// the flush latency is measured on the same file system before every round.
// A target's ratio is the median of the per-round ratios.

// peers are the other servers small uploads are compared with: rest-server
// with --no-verify-upload, and as it comes (rest-verify), hashing every blob
// to check it against its name as the receiver checks X-Content-SHA256.
var peers = []string{"rest-server", "rest-verify"}

// sliceTargets are the servers of a small-upload round, in first-round order.
func (s *suite) sliceTargets() []string {
	ts := []string{"serial", "receiver"}
	if s.rest != nil {
		ts = append(ts, peers...)
	}
	return ts
}

// flushSample is one flush-latency probe: the median fsync of a freshly
// written 4 KiB file and of a directory with a freshly renamed entry.
type flushSample struct {
	file, dir time.Duration
}

func (f flushSample) String() string {
	return fmt.Sprintf("flush: file %.2f ms, dir %.2f ms", ms(f.file), ms(f.dir))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// probeFlush measures the flush latency of the file system holding dir,
// 5 times each, and returns the medians. It overwrites one file and renames
// one entry back and forth, so it frees no inodes (see clean).
func probeFlush(dir string) (flushSample, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return flushSample{}, err
	}
	a, b := filepath.Join(dir, "probe-a"), filepath.Join(dir, "probe-b")
	if _, err := os.Stat(b); err == nil {
		a, b = b, a
	}
	f, err := os.OpenFile(a, os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return flushSample{}, err
	}
	defer f.Close()
	d, err := os.Open(dir)
	if err != nil {
		return flushSample{}, err
	}
	defer d.Close()
	buf := make([]byte, 4096)
	var files, dirs []time.Duration
	for i := 0; i < 5; i++ {
		buf[0] = byte(i)
		if _, err := f.WriteAt(buf, 0); err != nil {
			return flushSample{}, err
		}
		t0 := time.Now()
		if err := f.Sync(); err != nil {
			return flushSample{}, err
		}
		files = append(files, time.Since(t0))
		if err := os.Rename(a, b); err != nil {
			return flushSample{}, err
		}
		a, b = b, a
		t0 = time.Now()
		if err := d.Sync(); err != nil {
			return flushSample{}, err
		}
		dirs = append(dirs, time.Since(t0))
	}
	return flushSample{file: median(files), dir: median(dirs)}, nil
}

// measureSliced runs a small shape as rounds of one slice per server.
func (s *suite) measureSliced(sh shape, rounds int) error {
	s.times[sh.name] = map[string][]time.Duration{}
	s.cpu[sh.name] = map[string][]time.Duration{}
	s.self[sh.name] = map[string][]time.Duration{}
	ts := s.sliceTargets()
	for r := 0; r < rounds; r++ {
		fl, err := probeFlush(filepath.Join(s.out, "flushprobe"))
		if err != nil {
			return fmt.Errorf("flush probe: %w", err)
		}
		s.flushes[sh.name] = append(s.flushes[sh.name], fl)
		line := fmt.Sprintf("%-8s round %2d/%d %s |", sh.name, r+1, rounds, fl)
		for k := range ts {
			t := ts[(k+r)%len(ts)]
			idBase := fmt.Sprintf("s%d-%s-%s", r, sh.name, t)
			var ups []upload
			addr := s.base
			server := s.basePID
			switch t {
			case "receiver":
				addr, server = s.recv.addr, s.recv.cmd.Process.Pid
				ups = prepare(*sh.corpus, sh.count, "/v1/episodes/", idBase, benchToken)
			case "rest-server":
				addr, server = s.rest.addr, s.rest.cmd.Process.Pid
				ups = prepareRest(*sh.corpus, sh.count, idBase, false)
			case "rest-verify":
				addr, server = s.restV.addr, s.restV.cmd.Process.Pid
				ups = prepareRest(*sh.corpus, sh.count, idBase, true)
			default:
				ups = prepare(*sh.corpus, sh.count, "/"+t+"/", idBase, "")
			}
			sl, err := runSlice(addr, server, ups, sh.clients)
			if err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			d := sl.took
			s.times[sh.name][t] = append(s.times[sh.name][t], d)
			s.cpu[sh.name][t] = append(s.cpu[sh.name][t], sl.server)
			s.self[sh.name][t] = append(s.self[sh.name][t], sl.client)
			line += fmt.Sprintf(" %s %.0f/s", t, float64(sh.count)/d.Seconds())
		}
		s.logf("%s", line)
	}
	return nil
}

// slice is one timed slice of uploads to one server.
type slice struct {
	took           time.Duration // first request to last answer
	server, client time.Duration // CPU of the server's process and of this one
}

// runSlice sends ups to the server at addr (process server) over clients
// connections, after a sync(2) so that no server's dirty pages are written
// back in the next one's slice.
func runSlice(addr string, server int, ups []upload, clients int) (slice, error) {
	syscall.Sync()
	cpu0, self0 := cpuTicks(server), cpuTicks(os.Getpid())
	d, err := load(addr, ups, clients)
	cpu1, self1 := cpuTicks(server), cpuTicks(os.Getpid())
	tick := 10 * time.Millisecond
	return slice{took: d, server: time.Duration(cpu1-cpu0) * tick, client: time.Duration(self1-self0) * tick}, err
}

// prepareRest builds count uploads for rest-server's REST backend protocol:
// POST /data/<64 hex>, a distinct name per upload (rest-server refuses to
// overwrite a blob). Without verification the name need not be the body's
// digest and the bodies are the same as everyone's; with it, each body is
// a corpus body whose first 32 bytes are made unique and the name is its
// sha256 (the hashing is done here, before the slice is timed).
func prepareRest(c corpus, count int, idBase string, verify bool) []upload {
	ups := make([]upload, count)
	for i := range ups {
		k := i % len(c.bodies)
		body := c.bodies[k]
		sum := sha256.Sum256([]byte(idBase + "-" + strconv.Itoa(i)))
		if verify {
			body = append([]byte(nil), body...)
			copy(body, sum[:])
			sum = sha256.Sum256(body)
		}
		head := "POST /data/" + hex.EncodeToString(sum[:]) + " HTTP/1.1\r\n" +
			"Host: 127.0.0.1\r\n" +
			"User-Agent: receiverbench\r\n" +
			"Content-Type: application/octet-stream\r\n" +
			"Content-Length: " + strconv.Itoa(c.size) + "\r\n\r\n"
		ups[i] = upload{head: []byte(head), body: body}
	}
	return ups
}

// flushSummary describes a shape's flush probes: medians and ranges.
func flushSummary(fs []flushSample) string {
	if len(fs) == 0 {
		return ""
	}
	var files, dirs []time.Duration
	for _, f := range fs {
		files = append(files, f.file)
		dirs = append(dirs, f.dir)
	}
	slices.Sort(files)
	slices.Sort(dirs)
	return fmt.Sprintf("file fsync median %.2f ms (%.2f–%.2f), directory fsync median %.2f ms (%.2f–%.2f), %d probes",
		ms(median(files)), ms(files[0]), ms(files[len(files)-1]),
		ms(median(dirs)), ms(dirs[0]), ms(dirs[len(dirs)-1]), len(fs))
}
