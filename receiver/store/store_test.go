package store

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"cis490/internal/index"
	"cis490/receiver/datadir"
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// tarball builds a small <id>.tar.zst holding <id>/meta.json.
func tarball(t *testing.T, id, meta string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: id + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: id + "/meta.json", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(meta))})
	tw.Write([]byte(meta))
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func mustOpen(t *testing.T, dir string) (*Store, RecoveryReport) {
	t.Helper()
	s, rep, err := Open(dir, Options{Now: func() time.Time { return time.Date(2026, 11, 22, 14, 3, 4, 123e6, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, rep
}

func readRows(t *testing.T, dir string) []index.Row {
	t.Helper()
	var rows []index.Row
	_, torn, err := index.ReadFile(filepath.Join(dir, datadir.IndexFile), func(r index.Row) { rows = append(rows, r) })
	if err != nil || torn {
		t.Fatalf("read index: torn=%v err=%v", torn, err)
	}
	return rows
}

func TestIngestStoresFileAndRow(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	body := bytes.Repeat([]byte("0123456789"), 100_000) // spans many pipeline chunks
	var last int64
	row, err := s.Ingest("ep1", bytes.NewReader(body), int64(len(body)), sum(body), Meta{Host: "lab1", Commit: strings.Repeat("a", 40)}, func(n int64) { last = n })
	if err != nil {
		t.Fatal(err)
	}
	want := index.Row{ID: "ep1", Host: "lab1", SHA256: sum(body), Bytes: int64(len(body)), ReceivedAt: "2026-11-22T14:03:04.123Z", Commit: strings.Repeat("a", 40), Source: "receiver"}
	if row != want {
		t.Errorf("row = %+v\nwant  %+v", row, want)
	}
	if last != int64(len(body)) {
		t.Errorf("progress ended at %d", last)
	}
	if rows := readRows(t, dir); len(rows) != 1 || rows[0] != want {
		t.Errorf("index = %+v", rows)
	}
	got, _ := os.ReadFile(s.Path("ep1"))
	if !bytes.Equal(got, body) {
		t.Error("stored bytes differ")
	}
	st, found, err := s.Lookup("ep1")
	if err != nil || !found || st.SHA256 != sum(body) || st.Bytes != int64(len(body)) {
		t.Errorf("Lookup = %+v %v %v", st, found, err)
	}
	if _, err := s.Ingest("ep1", bytes.NewReader(body), int64(len(body)), sum(body), Meta{}, nil); !errors.Is(err, ErrExists) {
		t.Errorf("second ingest = %v, want ErrExists", err)
	}
	if n := len(readRows(t, dir)); n != 1 {
		t.Errorf("rows after refused re-ingest = %d", n)
	}
}

func TestIngestFailuresLeaveNothing(t *testing.T) {
	body := []byte("some bytes")
	cases := []struct {
		name   string
		body   []byte
		length int64
		sha    string
		want   error
	}{
		{"short body", body, int64(len(body)) + 5, sum(body), ErrAborted},
		{"sha mismatch", body, int64(len(body)), sum([]byte("other")), ErrSHAMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := mustOpen(t, dir)
			_, err := s.Ingest("ep1", bytes.NewReader(tc.body), tc.length, tc.sha, Meta{}, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, datadir.StoreDir)); len(ents) != 0 {
				t.Error("store not empty")
			}
			if left := tmpLeftovers(t, dir); len(left) != 0 {
				t.Errorf("tmp holds %v", left)
			}
			if len(readRows(t, dir)) != 0 {
				t.Error("a row was written")
			}
		})
	}
}

// An upload that fails after its row was announced to the index
// (jsonl.Appender.Expect, before the link) gives the announcement up, and
// an adopted episode's line fulfils it: the next index group never waits
// for a row that will not come.
func TestFailedIngestsDoNotHoldTheIndex(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	body := []byte("some bytes")
	ingest := func(id, sha string) error {
		_, err := s.Ingest(id, bytes.NewReader(body), int64(len(body)), sha, Meta{}, nil)
		return err
	}
	done := make(chan error, 1)
	go func() {
		if err := ingest("ep1", sum([]byte("other"))); !errors.Is(err, ErrSHAMismatch) {
			done <- fmt.Errorf("mismatching ingest = %v, want ErrSHAMismatch", err)
			return
		}
		if err := ingest("ep1", sum(body)); err != nil {
			done <- err
			return
		}
		// ep1 is stored and indexed: this one fails at the link.
		if err := ingest("ep1", sum(body)); !errors.Is(err, ErrExists) {
			done <- fmt.Errorf("second ingest of ep1 = %v, want ErrExists", err)
			return
		}
		// A restored episode's row line goes in as it was written.
		line := []byte(`{"id":"ep3","host":"lab1","sha256":"` + sum(body) + `","bytes":10,"received_at":"2026-11-22T14:03:04.123Z","source":"receiver"}`)
		if err := s.Adopt(index.Row{ID: "ep3", SHA256: sum(body), Bytes: int64(len(body))}, line, bytes.NewReader(body)); err != nil {
			done <- fmt.Errorf("adopt: %w", err)
			return
		}
		done <- ingest("ep2", sum(body))
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a hang, not a slow disk
		t.Fatal("an ingest after a failed one never returned: the index waits for a row that will not come")
	}
	if rows := readRows(t, dir); len(rows) != 3 {
		t.Errorf("%d rows, want 3", len(rows))
	}
}

func TestOpenRepairsCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	kept := []byte("kept")
	if _, err := s.Ingest("kept", bytes.NewReader(kept), 4, sum(kept), Meta{Host: "lab1"}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A crash between the rename and the append: a stored file without a
	// row; one mid-append: a torn last line; one mid-upload: a temp file.
	orphan := tarball(t, "orphan", `{"host_id":"lab7","code_version":{"commit":"`+strings.Repeat("B", 40)+`"}}`)
	os.WriteFile(filepath.Join(dir, datadir.StoreDir, "orphan.tar.zst"), orphan, 0o640)
	f, _ := os.OpenFile(filepath.Join(dir, datadir.IndexFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"torn","sha256":"ab`)
	f.Close()
	os.WriteFile(filepath.Join(dir, datadir.TmpDir, "x.123.part"), []byte("partial"), 0o640)

	s2, rep := mustOpen(t, dir)
	if rep.TornBytes == 0 || rep.TmpRemoved != 1 || len(rep.Reindexed) != 1 {
		t.Errorf("report = %+v", rep)
	}
	rows := readRows(t, dir)
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	if len(rows) != 2 {
		t.Fatalf("rows = %+v", rows)
	}
	want := index.Row{ID: "orphan", Host: "lab7", SHA256: sum(orphan), Bytes: int64(len(orphan)),
		ReceivedAt: "2026-11-22T14:03:04.123Z", Commit: strings.Repeat("b", 40), Source: "backfill"}
	if rows[1] != want {
		t.Errorf("backfilled row = %+v\nwant %+v", rows[1], want)
	}
	if left := tmpLeftovers(t, dir); len(left) != 0 {
		t.Errorf("tmp holds %v", left)
	}
	// The repaired index takes new rows on whole lines.
	b := []byte("after")
	if _, err := s2.Ingest("after", bytes.NewReader(b), 5, sum(b), Meta{}, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(readRows(t, dir)); n != 3 {
		t.Errorf("rows = %d, want 3", n)
	}
	if problems, err := Fsck(dir, true); err != nil || len(problems) != 0 {
		t.Errorf("fsck after recovery = %+v %v", problems, err)
	}
}

func TestBackfillIsIdempotentAndDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	s.Close()
	tb := tarball(t, "ep9", `{"code_version":{"commit":"short"}}`)
	os.WriteFile(filepath.Join(dir, datadir.StoreDir, "ep9.tar.zst"), tb, 0o640)
	os.WriteFile(filepath.Join(dir, datadir.StoreDir, "junk.txt"), []byte("x"), 0o640)
	rows, err := Backfill(dir, true, nil)
	if err != nil || len(rows) != 1 {
		t.Fatalf("dry run = %+v %v", rows, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, datadir.IndexFile)); len(b) != 0 {
		t.Error("dry run wrote the index")
	}
	rows, err = Backfill(dir, false, nil)
	if err != nil || len(rows) != 1 || rows[0].Host != "unknown" || rows[0].Commit != "" || rows[0].Source != "backfill" {
		t.Fatalf("backfill = %+v %v", rows, err)
	}
	rows, err = Backfill(dir, false, nil)
	if err != nil || len(rows) != 0 {
		t.Errorf("second backfill = %+v %v", rows, err)
	}
}

func TestLookupAnswersOnlyFromDurableRows(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	b := []byte("no row yet")
	os.WriteFile(s.Path("x"), b, 0o640)
	if st, found, err := s.Lookup("x"); err != nil || found {
		t.Errorf("a file without a row: Lookup = %+v %v %v, want not stored", st, found, err)
	}
	if _, found, _ := s.Lookup("absent"); found {
		t.Error("absent id found")
	}
	// The next upload of the id replaces the file that has no row.
	got := []byte("the real bytes")
	if _, err := s.Ingest("x", bytes.NewReader(got), int64(len(got)), sum(got), Meta{Host: "lab1"}, nil); err != nil {
		t.Fatal(err)
	}
	if st, found, err := s.Lookup("x"); err != nil || !found || st.SHA256 != sum(got) {
		t.Errorf("after the upload: Lookup = %+v %v %v", st, found, err)
	}
}

func TestFsckFindsEveryKind(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	for _, id := range []string{"good", "changed", "gone"} {
		b := []byte("bytes of " + id)
		if _, err := s.Ingest(id, bytes.NewReader(b), int64(len(b)), sum(b), Meta{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	os.Remove(filepath.Join(dir, datadir.StoreDir, "gone.tar.zst"))
	os.WriteFile(filepath.Join(dir, datadir.StoreDir, "changed.tar.zst"), []byte("bytes of CHANGED"), 0o640)
	os.WriteFile(filepath.Join(dir, datadir.StoreDir, "stray.tar.zst"), []byte("x"), 0o640)
	os.WriteFile(filepath.Join(dir, datadir.TmpDir, "up.1.part"), []byte("x"), 0o640)
	idx, _ := os.ReadFile(filepath.Join(dir, datadir.IndexFile))
	first := strings.SplitAfter(string(idx), "\n")[0]
	os.WriteFile(filepath.Join(dir, datadir.IndexFile), []byte(string(idx)+first+"not json\n"+`{"id":"t`), 0o640)

	kinds := func(verify bool) map[string]int {
		problems, err := Fsck(dir, verify)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, p := range problems {
			m[p.Kind]++
			if p.Detail == "" {
				t.Errorf("%s has no detail", p.Kind)
			}
		}
		return m
	}
	got := kinds(false)
	want := map[string]int{KindRowWithoutFile: 1, KindFileWithoutRow: 1, KindDuplicateRow: 1, KindTornLine: 1, KindBadRow: 1, KindTempFile: 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if got[KindHashMismatch] != 0 {
		t.Error("hash checked without verify")
	}
	if kinds(true)[KindHashMismatch] != 1 {
		t.Error("verify missed the changed file")
	}
}

func TestLockRefusesASecondHolder(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("second lock = %v, want ErrLocked", err)
	}
	unlock()
	u2, err := Lock(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	u2()
}

// tmpLeftovers lists what tmp/ holds besides the empty spares a serving
// store keeps ready.
func tmpLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	left, err := TmpLeftovers(dir)
	if err != nil {
		t.Fatal(err)
	}
	return left
}
