package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"cis490/internal/index"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
)

// startupResult is the receiver's start-up over one data directory.
type startupResult struct {
	rows    int
	startup time.Duration // median exec → READY=1
	maxUp   time.Duration
	rss     int64 // median VmRSS one second after READY, KiB
	hwm     int64 // largest VmHWM at that point, KiB
}

// startups measures start-up time and idle memory over an empty data
// directory and over one holding rows index rows and as many store files.
func (s *suite) startups(rows, reps int) error {
	empty := filepath.Join(s.out, "startup-empty")
	full := filepath.Join(s.out, fmt.Sprintf("startup-%d", rows))
	if err := populate(full, rows, s.logf); err != nil {
		return err
	}
	for i, dir := range []string{empty, full} {
		r := startupResult{rows: rows * i}
		var ups []time.Duration
		var rss []int64
		for rep := 0; rep < reps; rep++ {
			if i == 0 {
				if err := os.RemoveAll(dir); err != nil {
					return err
				}
			}
			addr, err := freePort()
			if err != nil {
				return err
			}
			cfg := filepath.Join(s.out, "startup.toml")
			if err := writeConfig(cfg, dir, addr, true); err != nil {
				return err
			}
			syscall.Sync()
			p, err := startReceiver(s.bin, []string{"serve", "--config", cfg}, addr, filepath.Join(s.out, "startup.log"))
			if err != nil {
				return err
			}
			time.Sleep(time.Second)
			m, merr := readMem(p.cmd.Process.Pid)
			p.stop()
			if merr != nil {
				return merr
			}
			ups = append(ups, p.startup)
			rss = append(rss, m.RSS)
			r.hwm = max(r.hwm, m.HWM)
			r.maxUp = max(r.maxUp, p.startup)
			s.logf("start-up %6d rows rep %d: %v to READY, VmRSS %d KiB, VmHWM %d KiB", r.rows, rep+1, p.startup.Round(time.Millisecond), m.RSS, m.HWM)
		}
		r.startup = median(ups)
		slices.Sort(rss)
		r.rss = rss[len(rss)/2]
		s.mem.startup[i] = r
	}
	return nil
}

// populate makes dir a receiver data directory with n tiny store files and
// their index rows, unless an earlier run already did.
func populate(dir string, n int, logf func(string, ...any)) error {
	marker := filepath.Join(dir, ".populated")
	if b, err := os.ReadFile(marker); err == nil && string(b) == strconv.Itoa(n) {
		return nil
	}
	logf("populating %s with %d store files and index rows", dir, n)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	store := datadir.New(dir).Store()
	if err := os.MkdirAll(store, 0o750); err != nil {
		return err
	}
	idx, err := os.Create(datadir.New(dir).Index())
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(idx, 1<<20)
	rng := rand.NewChaCha8([32]byte{'s', 't', 'a', 'r', 't'})
	body := make([]byte, 64)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		rng.Read(body)
		id := fmt.Sprintf("ep-%07d", i)
		if err := os.WriteFile(filepath.Join(store, id+wire.EpisodeSuffix), body, 0o640); err != nil {
			idx.Close()
			return err
		}
		sum := sha256.Sum256(body)
		row, _ := json.Marshal(index.Row{ID: id, Host: fmt.Sprintf("lab%d", i%50), SHA256: hex.EncodeToString(sum[:]),
			Bytes: int64(len(body)), ReceivedAt: wire.FormatTime(t0.Add(time.Duration(i) * time.Second)), Commit: benchCommit,
			Source: index.SourceReceiver})
		w.Write(append(row, '\n'))
	}
	if err := w.Flush(); err != nil {
		idx.Close()
		return err
	}
	if err := idx.Close(); err != nil {
		return err
	}
	syscall.Sync()
	return os.WriteFile(marker, []byte(strconv.Itoa(n)), 0o640)
}
