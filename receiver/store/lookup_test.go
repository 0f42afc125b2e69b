package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"cis490/internal/index"
	"cis490/receiver/datadir"
)

// limitFileSize makes every write past n bytes into a file fail with EFBIG
// (the process ignores SIGXFSZ), a real kernel refusal like a full disk,
// until the test ends.
func limitFileSize(t *testing.T, n uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	lim := old
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) })
}

// A failed index append must leave nothing that looks stored: no file in
// store/, no HEAD or duplicate answer; the retry stores the episode with
// its own host and commit (SPEC §4.2, "This holds when a step fails too").
func TestFailedIndexAppendLeavesNothingStored(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	seed := bytes.Repeat([]byte("s"), 64)
	if _, err := s.Ingest("seed", bytes.NewReader(seed), int64(len(seed)), sum(seed), Meta{Host: "lab1"}, nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(s.IndexPath())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("episode bytes")
	meta := Meta{Host: "lab2", Commit: "0123456789abcdef0123456789abcdef01234567", SchemaVersion: "3"}

	limitFileSize(t, uint64(st.Size())+16) // the tarball fits, its row does not
	_, err = s.Ingest("ep-1", bytes.NewReader(body), int64(len(body)), sum(body), meta, nil)
	if err == nil {
		t.Fatal("Ingest succeeded although the index append failed")
	}
	if _, err := os.Stat(s.Path("ep-1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("store/ep-1 after the failed append: stat err = %v, want not exist", err)
	}
	if got, found, err := s.Lookup("ep-1"); found || err != nil {
		t.Errorf("Lookup after the failed append = %+v %v %v, want not stored", got, found, err)
	}

	var unlimited syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_FSIZE, &unlimited)
	unlimited.Cur = unlimited.Max
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &unlimited)
	if _, err := s.Ingest("ep-1", bytes.NewReader(body), int64(len(body)), sum(body), meta, nil); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	var rows []index.Row
	for _, r := range readRows(t, dir) {
		if r.ID == "ep-1" {
			rows = append(rows, r)
		}
	}
	if len(rows) != 1 || rows[0].Host != "lab2" || rows[0].Commit != meta.Commit || rows[0].Source != index.SourceReceiver {
		t.Errorf("rows of ep-1 after the retry = %+v, want one receiver row from lab2 with its commit", rows)
	}
}

// Lookup reads only the id's own row, wherever it is in the index, and
// sees rows appended since start-up and rows re-indexed at start-up.
func TestLookupFindsEveryRowByOffset(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	ingest := func(s *Store, id string) {
		t.Helper()
		b := []byte("bytes of " + id)
		if _, err := s.Ingest(id, bytes.NewReader(b), int64(len(b)), sum(b), Meta{Host: "lab1"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		ingest(s, fmt.Sprintf("old-%02d", i))
	}
	s.Close()
	// A file without a row (a crash between link and append): start-up
	// re-indexes it, and Lookup must find that row too.
	orphan := []byte("crashed before its row")
	os.WriteFile(datadir.New(dir).Stored("orphan"), orphan, 0o640)
	s, _ = mustOpen(t, dir)
	ingest(s, "new")
	for _, id := range []string{"old-00", "old-25", "old-49", "new", "orphan"} {
		want := sum([]byte("bytes of " + id))
		if id == "orphan" {
			want = sum(orphan)
		}
		if st, found, err := s.Lookup(id); err != nil || !found || st.SHA256 != want {
			t.Errorf("Lookup(%s) = %+v %v %v, want %s", id, st, found, err, want)
		}
	}
	if _, found, _ := s.Lookup("old-50"); found {
		t.Error("Lookup found an id never stored")
	}
}

// A kill -9 during a host-health write leaves its hidden temp file: fsck
// reports it and the next start removes it (SPEC §4.5).
func TestHealthTempFilesAreReportedAndRemovedAtStart(t *testing.T) {
	dir := t.TempDir()
	l := datadir.New(dir)
	os.MkdirAll(l.HostHealth(), 0o750)
	tmp := filepath.Join(l.HostHealth(), ".lab1.json.tmp-123456")
	os.WriteFile(tmp, bytes.Repeat([]byte("x"), 4096), 0o640)
	os.WriteFile(l.HostHealthFile("lab1"), []byte(`{"host":"lab1","received_at":"2026-11-22T14:03:04.123Z","report":{}}`+"\n"), 0o640)
	problems, err := Fsck(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range problems {
		found = found || (p.Kind == KindTempFile && p.ID == "lab1" && strings.Contains(p.Detail, "host-health/.lab1.json.tmp-123456"))
	}
	if !found {
		t.Errorf("fsck problems %+v, want the host-health temp file", problems)
	}
	_, rep := mustOpen(t, dir)
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temp file after start: %v, want removed", err)
	}
	if rep.HealthTmpRemoved != 1 {
		t.Errorf("HealthTmpRemoved = %d, want 1", rep.HealthTmpRemoved)
	}
	if _, err := os.Stat(l.HostHealthFile("lab1")); err != nil {
		t.Errorf("the report itself: %v", err)
	}
}

// Rows appended while serving are folded into the compact table once they
// are many; every row is still found, the newest row of an id winning.
func TestLookupAfterRecentRowsAreMerged(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	const n = 5000 // past the 4096 rows that trigger a merge
	for i := range n {
		id := fmt.Sprintf("ep-%05d", i)
		off := s.index.Size() // one writer: the row starts here (no fsync per row: this is about the table)
		if err := s.index.AppendUnsynced(index.Row{ID: id, Host: "lab1", SHA256: sum([]byte(id)), Bytes: int64(i), Source: index.SourceReceiver}); err != nil {
			t.Fatal(err)
		}
		s.rows.add(id, off)
	}
	if len(s.rows.recent) >= n {
		t.Fatalf("recent rows never merged: %d in the map", len(s.rows.recent))
	}
	for _, i := range []int{0, 1, 2500, 4095, 4096, 4999} {
		id := fmt.Sprintf("ep-%05d", i)
		os.WriteFile(s.Path(id), nil, 0o640) // Lookup wants the file too
		if st, found, err := s.Lookup(id); err != nil || !found || st.Bytes != int64(i) {
			t.Errorf("Lookup(%s) = %+v %v %v", id, st, found, err)
		}
	}
}
