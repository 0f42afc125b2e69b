// Command gen writes a synthetic receiver data directory for the fleet-health
// benchmark: index.jsonl and attempts.jsonl spread evenly over a span of days
// across a number of hosts, plus one health report per host. A few hosts are
// made sick near the end so the check has findings to dedup.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"cis490/internal/index"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "data directory to create (required)")
	nIndex := flag.Int("index", 1_000_000, "index rows")
	nAttempts := flag.Int("attempts", 200_000, "attempt rows")
	days := flag.Int("days", 30, "span of the rows in days, ending at --now")
	hosts := flag.Int("hosts", 50, "number of hosts")
	nowFlag := flag.String("now", "2026-11-23T14:30:00Z", "end of the span (RFC 3339)")
	flag.Parse()
	if *dir == "" {
		return fmt.Errorf("--dir is required")
	}
	now, err := wire.ParseTime(*nowFlag)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(datadir.New(*dir).HostHealth(), 0o755); err != nil {
		return err
	}
	span := time.Duration(*days) * 24 * time.Hour
	host := func(i int) string { return fmt.Sprintf("lab%02d", i%*hosts) }
	const commit = "0123456789abcdef0123456789abcdef01234567"

	// lab00 stopped uploading two hours ago: it turns silent.
	silent := func(h string, at time.Time) bool { return h == "lab00" && now.Sub(at) < 2*time.Hour }

	err = writeLines(datadir.New(*dir).Index(), *nIndex, func(i int) any {
		at := now.Add(-span + span/time.Duration(*nIndex)*time.Duration(i))
		h := host(i)
		if silent(h, at) {
			h = host(i + 1)
		}
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		return index.Row{ID: fmt.Sprintf("ep-%08d", i), Host: h, SHA256: hex.EncodeToString(sum[:]),
			Bytes: 12345678, ReceivedAt: wire.FormatTime(at), Commit: commit, SchemaVersion: "3",
			Source: index.SourceReceiver}
	})
	if err != nil {
		return err
	}
	err = writeLines(datadir.New(*dir).Attempts(), *nAttempts, func(i int) any {
		at := now.Add(-span + span/time.Duration(*nAttempts)*time.Duration(i))
		a := index.Attempt{TS: wire.FormatTime(at), Host: host(i), ID: fmt.Sprintf("ep-%08d", i),
			Status: 201, Commit: commit, Bytes: 12345678}
		if silent(a.Host, at) {
			a.Host = host(i + 1)
		}
		// lab01 runs stale code: every upload is refused in the last day.
		if a.Host == "lab01" && now.Sub(at) < 24*time.Hour {
			a.Status, a.Error, a.Bytes = 412, "commit-not-in-window", 0
		}
		// lab02 lost its commit stamp.
		if a.Host == "lab02" && now.Sub(at) < 24*time.Hour {
			a.Commit = ""
		}
		return a
	})
	if err != nil {
		return err
	}
	for i := 0; i < *hosts; i++ {
		age := time.Hour
		if i == 3 {
			age = 40 * time.Hour // stale-health
		}
		b, _ := json.Marshal(map[string]any{"host": host(i), "received_at": wire.FormatTime(now.Add(-age)),
			"report": map[string]any{"schema": 1, "overall": "ok"}})
		if err := os.WriteFile(datadir.New(*dir).HostHealthFile(host(i)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeLines writes n JSON lines made by row to path.
func writeLines(path string, n int, row func(i int) any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for i := 0; i < n; i++ {
		if err := enc.Encode(row(i)); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
