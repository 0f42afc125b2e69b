package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cis490/receiver/datadir"
)

// runFsyncs measures how fsyncs of the disk under dir scale with
// concurrency, without HTTP: each operation creates a file, writes 256 KiB
// and fsyncs it; with --pattern serial it then links the file into a
// directory, fsyncs that directory, appends a row to a shared index and
// fsyncs the index (the `serial` baseline's three fsyncs). It prints
// operations per second. Use a fresh directory: on ext4 without a journal,
// files deleted in the last minutes slow creation down (see clean).
//
//	receiverbench fsyncs --dir D [--pattern file|serial] [--par 8] [--n 4096]
func runFsyncs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fsyncs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "fresh directory on the file system to measure (required)")
	pattern := fs.String("pattern", "file", "file: create, write, fsync; serial: also link, fsync dir, append, fsync index")
	par := fs.Int("par", 8, "concurrent workers")
	n := fs.Int("n", 4096, "operations")
	if err := fs.Parse(args); err != nil || *dir == "" || fs.NArg() != 0 || (*pattern != "file" && *pattern != "serial") {
		fmt.Fprintln(stderr, "usage: receiverbench fsyncs --dir D [--pattern file|serial] [--par N] [--n N]")
		return 2
	}
	store := datadir.New(*dir).Store()
	if err := os.MkdirAll(store, 0o750); err != nil {
		fmt.Fprintln(stderr, "fsyncs:", err)
		return 1
	}
	d, err := os.Open(store)
	if err != nil {
		fmt.Fprintln(stderr, "fsyncs:", err)
		return 1
	}
	defer d.Close()
	idx, err := os.OpenFile(datadir.New(*dir).Index(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		fmt.Fprintln(stderr, "fsyncs:", err)
		return 1
	}
	defer idx.Close()
	body := make([]byte, 256<<10)
	row := []byte(`{"id":"ep-000000","host":"lab1","sha256":"` + fmt.Sprintf("%064d", 0) + `","bytes":262144}` + "\n")

	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(*n); i = next.Add(1) {
				if err := fsyncOp(*dir, store, i, body, row, d, idx, *pattern == "serial"); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		fmt.Fprintln(stderr, "fsyncs:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s par %d: %.0f ops/s (%d ops in %v)\n", *pattern, *par, float64(*n)/wall.Seconds(), *n, wall.Round(time.Millisecond))
	return 0
}

func fsyncOp(dir, store string, i int64, body, row []byte, d, idx *os.File, serial bool) error {
	tmp := filepath.Join(dir, fmt.Sprintf("op-%d.part", i))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(body); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if !serial {
		return nil
	}
	if err := syscall.Link(tmp, filepath.Join(store, fmt.Sprintf("op-%d", i))); err != nil {
		return err
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		return err
	}
	if _, err := idx.Write(row); err != nil {
		return err
	}
	return idx.Sync()
}
