package store

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cis490/receiver/datadir"
)

// crash abandons s the way a power cut does as far as its spares go: the
// background stops and nothing more is retired or removed.
func (s *Store) crash() {
	s.spares.mu.Lock()
	s.spares.closed = true
	s.spares.mu.Unlock()
	close(s.spares.stop)
	<-s.spares.done
	s.index.Close()
	s.rows.close()
	s.dirFile.Close()
	s.tmpFile.Close()
}

// spareOf returns the tmp/ spare that is the same file as store/<id>, or "".
func spareOf(t *testing.T, dir, id string) string {
	t.Helper()
	st, err := os.Stat(datadir.New(dir).Stored(id))
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(datadir.New(dir).Tmp())
	for _, e := range ents {
		p := filepath.Join(datadir.New(dir).Tmp(), e.Name())
		if sp, err := os.Stat(p); err == nil && os.SameFile(st, sp) {
			return p
		}
	}
	return ""
}

// An acknowledged episode's bytes keep a durable name in tmp/ until an
// fsync of store/ has made their store/ name durable; then it goes.
func TestIngestKeepsItsSpareUntilStoreIsSynced(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	body := []byte("episode bytes")
	if _, err := s.Ingest("ep-1", bytes.NewReader(body), int64(len(body)), sum(body), Meta{Host: "lab1"}, nil); err != nil {
		t.Fatal(err)
	}
	sp := spareOf(t, dir, "ep-1")
	if sp == "" || !datadir.IsSpare(filepath.Base(sp)) {
		t.Fatalf("no tmp/ spare holds ep-1's bytes after Ingest returned (found %q)", sp)
	}
	if err := s.spares.retireLinked(false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sp); !os.IsNotExist(err) {
		t.Errorf("%s after the store/ fsync: %v, want removed", sp, err)
	}
	if b, err := os.ReadFile(s.Path("ep-1")); err != nil || !bytes.Equal(b, body) {
		t.Errorf("store/ep-1 = %q, %v", b, err)
	}
}

// A power cut can lose store/ names that were never fsynced while the rows
// of those episodes are durable. The next start links the bytes back from
// their spares, matched by length and sha256, and leaves nothing else.
func TestStartRelinksWhatACrashUnlinked(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	a, b := []byte("episode A bytes"), []byte("episode B bytes")
	for id, body := range map[string][]byte{"ep-a": a, "ep-b": b} {
		if _, err := s.Ingest(id, bytes.NewReader(body), int64(len(body)), sum(body), Meta{Host: "lab1"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	spareA := spareOf(t, dir, "ep-a")
	if spareA == "" {
		t.Fatal("ep-a has no spare")
	}
	s.crash()
	// The cut lost ep-a's store/ name; an upload of the same length was
	// in flight, and an aborted one left its bytes.
	l := datadir.New(dir)
	os.Remove(l.Stored("ep-a"))
	os.WriteFile(l.Spare(900), []byte("episode X bytes"), 0o600)
	os.WriteFile(l.Spare(901), []byte("partial"), 0o600)

	s2, rep := mustOpen(t, dir)
	if !slices.Equal(rep.Relinked, []string{"ep-a"}) {
		t.Errorf("relinked %v, want [ep-a]", rep.Relinked)
	}
	if rep.TmpRemoved != 2 {
		t.Errorf("tmp removed %d, want 2 (the two uploads that were not stored)", rep.TmpRemoved)
	}
	if got, err := os.ReadFile(l.Stored("ep-a")); err != nil || !bytes.Equal(got, a) {
		t.Errorf("store/ep-a = %q, %v, want its bytes", got, err)
	}
	if st, found, err := s2.Lookup("ep-a"); err != nil || !found || st.SHA256 != sum(a) {
		t.Errorf("Lookup(ep-a) = %+v %v %v", st, found, err)
	}
	if left := tmpLeftovers(t, dir); len(left) != 0 {
		t.Errorf("tmp holds %v", left)
	}
	if n := len(readRows(t, dir)); n != 2 {
		t.Errorf("rows = %d, want 2 (nothing re-indexed)", n)
	}
	if probs, err := Fsck(dir, true); err != nil || len(probs) != 0 {
		t.Errorf("fsck --verify: %+v %v", probs, err)
	}
}

// fsck counts a spare as left over only when it holds bytes no store/ file
// shares: empty spares and linked ones are a serving receiver's own.
func TestFsckReportsOnlySparesHoldingUploads(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	body := []byte("stored")
	if _, err := s.Ingest("ep-1", bytes.NewReader(body), int64(len(body)), sum(body), Meta{}, nil); err != nil {
		t.Fatal(err)
	}
	if spareOf(t, dir, "ep-1") == "" {
		t.Fatal("ep-1 has no spare")
	}
	os.WriteFile(datadir.New(dir).Spare(900), []byte("half an upload"), 0o600)
	probs, err := Fsck(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || probs[0].Kind != KindTempFile || probs[0].ID != "spare-900" {
		t.Errorf("problems = %+v, want one temp-file for spare-900", probs)
	}
}

// A store/ file without a row (left by an upload whose append failed and
// whose file could not be removed) gives way to the next upload of its id:
// found when the link meets the name, removed, and the link made again.
func TestIngestReplacesAnUnindexedLeftover(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	os.WriteFile(s.Path("ep-1"), []byte("left over"), 0o600)
	body := []byte("the episode")
	if _, err := s.Ingest("ep-1", bytes.NewReader(body), int64(len(body)), sum(body), Meta{Host: "lab1"}, nil); err != nil {
		t.Fatalf("ingest over an unindexed leftover: %v", err)
	}
	if b, err := os.ReadFile(s.Path("ep-1")); err != nil || !bytes.Equal(b, body) {
		t.Errorf("store/ep-1 = %q, %v, want the new bytes", b, err)
	}
	if rows := readRows(t, dir); len(rows) != 1 || rows[0].SHA256 != sum(body) {
		t.Errorf("rows = %+v, want one for the new bytes", rows)
	}
}

func TestRefillFailureIsLoggedOnceWhileItLasts(t *testing.T) {
	var out bytes.Buffer
	p := &spares{log: slog.New(slog.NewTextHandler(&out, nil))}
	disk := errors.New("create spare: open tmp/spare-9: read-only file system")
	for range 5 {
		p.noteRefill(disk)
	}
	p.noteRefill(nil)
	p.noteRefill(nil)
	p.noteRefill(disk)
	got := out.String()
	if n := strings.Count(got, "could not make spare upload files"); n != 2 {
		t.Errorf("%d warnings for one failure, a recovery and the failure again, want 2:\n%s", n, got)
	}
	if n := strings.Count(got, "spare upload files are made again"); n != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", n, got)
	}
}
