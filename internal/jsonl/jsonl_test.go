package jsonl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func lines(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	if _, err := ScanFile(path, func(l []byte) error { out = append(out, string(l)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScanSkipsTornLastLine(t *testing.T) {
	cases := []struct {
		name, content string
		want          []string
		torn          bool
	}{
		{"empty", "", nil, false},
		{"whole lines", "a\nb\n", []string{"a", "b"}, false},
		{"torn last", "a\nb\n{\"id\":", []string{"a", "b"}, true},
		{"only torn", "{\"id", nil, true},
		{"long line", strings.Repeat("x", 200<<10) + "\nz\n", []string{strings.Repeat("x", 200<<10), "z"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			torn, err := Scan(strings.NewReader(tc.content), func(l []byte) error { got = append(got, string(l)); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if torn != tc.torn || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %d lines torn=%v, want %d torn=%v", len(got), torn, len(tc.want), tc.torn)
			}
		})
	}
}

func TestScanBackwardMatchesForward(t *testing.T) {
	cases := map[string]string{
		"empty":          "",
		"one":            "a\n",
		"torn only":      "abc",
		"torn after":     "a\nbb\nccc",
		"block boundary": strings.Repeat("0123456789abcde\n", 10000),
		"huge lines":     strings.Repeat(strings.Repeat("y", 70<<10)+"\n", 3) + "tail",
		"empty lines":    "\n\na\n\n",
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			os.WriteFile(path, []byte(content), 0o600)
			fwd := lines(t, path)
			var back []string
			if err := ScanBackward(path, func(l []byte) error { back = append(back, string(l)); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(back) != len(fwd) {
				t.Fatalf("backward read %d lines, forward %d", len(back), len(fwd))
			}
			for i := range fwd {
				if back[len(back)-1-i] != fwd[i] {
					t.Fatalf("line %d differs", i)
				}
			}
		})
	}
	t.Run("stops early", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "f")
		os.WriteFile(path, []byte("1\n2\n3\n"), 0o600)
		var got []string
		ScanBackward(path, func(l []byte) error {
			got = append(got, string(l))
			if len(got) == 2 {
				return ErrStop
			}
			return nil
		})
		if fmt.Sprint(got) != "[3 2]" {
			t.Errorf("got %v", got)
		}
	})
}

func TestRepairTorn(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""}, {"a\n", "a\n"}, {"a\nb", "a\n"}, {"abc", ""}, {"a\n" + strings.Repeat("z", 100<<10), "a\n"},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "f")
		os.WriteFile(path, []byte(tc.in), 0o600)
		n, err := RepairTorn(path)
		got, _ := os.ReadFile(path)
		if err != nil || string(got) != tc.want || n != int64(len(tc.in)-len(tc.want)) {
			t.Errorf("RepairTorn(%.10q) = %d, %v, file %.10q", tc.in, n, err, got)
		}
	}
	if n, err := RepairTorn(filepath.Join(t.TempDir(), "missing")); n != 0 || err != nil {
		t.Errorf("missing file: %d %v", n, err)
	}
}

func TestAppenderConcurrentRowsAllWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idx.jsonl")
	a, err := OpenAppender(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if err := a.Append(map[string]int{"g": i, "n": j}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	a.Close()
	got := lines(t, path)
	if len(got) != 32*20 {
		t.Fatalf("%d lines, want %d", len(got), 32*20)
	}
	seen := map[string]bool{}
	for _, l := range got {
		if seen[l] || !strings.HasPrefix(l, `{"g":`) {
			t.Fatalf("bad or repeated line %q", l)
		}
		seen[l] = true
	}
}

func TestAppenderContinuesAfterExistingContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idx.jsonl")
	os.WriteFile(path, []byte("{\"a\":1}\n"), 0o600)
	a, _ := OpenAppender(path)
	a.AppendUnsynced(map[string]int{"b": 2})
	a.Append(map[string]int{"c": 3})
	if a.Size() != int64(len("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n")) {
		t.Errorf("size %d", a.Size())
	}
	a.Close()
	if got := lines(t, path); fmt.Sprint(got) != `[{"a":1} {"b":2} {"c":3}]` {
		t.Errorf("lines %v", got)
	}
}

// Lines that arrive while a group's fsync is in flight wait in memory, not
// in write(2), and the next group commits all of them with one write and
// one fsync.
func TestAppenderCommitsWaitingLinesAsOneGroup(t *testing.T) {
	a, inFsync, release, fsyncs := holdFirstFsync(t)
	path := a.Path()
	first := make(chan error, 1)
	go func() { _, err := a.AppendAt(map[string]int{"n": 0}); first <- err }()
	<-inFsync
	const waiting = 10
	var wg sync.WaitGroup
	offs := make([]int64, waiting)
	for i := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off, err := a.AppendAt(map[string]int{"n": i + 1})
			if err != nil {
				t.Error(err)
			}
			offs[i] = off
		}()
	}
	// Every waiting line is queued, none written, while the fsync holds.
	for queued := 0; queued < waiting; {
		a.qmu.Lock()
		queued = len(a.queue)
		a.qmu.Unlock()
		runtime.Gosched()
	}
	if st, _ := os.Stat(path); st.Size() != int64(len(`{"n":0}`)+1) {
		t.Errorf("file holds %d bytes while the first fsync is in flight, want only the first line", st.Size())
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := fsyncs.Load(); n != 2 {
		t.Errorf("%d fsyncs for 11 lines, want 2 (the first line, then the ten that waited)", n)
	}
	b, _ := os.ReadFile(path)
	for i, off := range offs {
		want := fmt.Sprintf(`{"n":%d}`, i+1)
		if !bytes.HasPrefix(b[off:], []byte(want+"\n")) {
			t.Errorf("offset %d of line %d holds %q", off, i+1, b[off:min(int(off)+10, len(b))])
		}
	}
}

// holdFirstFsync opens an appender whose first fsync signals inFsync and
// then holds until release is closed, and which counts its fsyncs.
func holdFirstFsync(t *testing.T) (a *Appender, inFsync, release chan struct{}, fsyncs *atomic.Int32) {
	t.Helper()
	a, err := OpenAppender(filepath.Join(t.TempDir(), "x.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	inFsync, release, fsyncs = make(chan struct{}), make(chan struct{}), new(atomic.Int32)
	a.fsync = func() error {
		if fsyncs.Add(1) == 1 {
			close(inFsync)
			<-release
		}
		return a.f.Sync()
	}
	return a, inFsync, release, fsyncs
}

// announcedDuringAGroup sets up what the announcement tests share: a
// first line's group is in fsync, a line is announced (Expect), a second
// line queues behind the group, and then the first group ends, so the
// second line's goroutine leads the next group. It returns the
// announcement, the second line's result and the appender's fsync count.
func announcedDuringAGroup(t *testing.T) (a *Appender, announced *Expected, second chan error, fsyncs *atomic.Int32) {
	t.Helper()
	a, inFsync, release, fsyncs := holdFirstFsync(t)
	first := make(chan error, 1)
	go func() { _, err := a.AppendAt("first"); first <- err }()
	<-inFsync
	announced = a.Expect()
	second = make(chan error, 1)
	go func() { _, err := a.AppendAt("second"); second <- err }()
	waitQueued(a, 1)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	return a, announced, second, fsyncs
}

// waitQueued waits until n lines wait in the queue.
func waitQueued(a *Appender, n int) {
	for {
		a.qmu.Lock()
		q := len(a.queue)
		a.qmu.Unlock()
		if q >= n {
			return
		}
		runtime.Gosched()
	}
}

// waitLeading waits until the n-th group's leader has closed its epoch:
// from then on it either waits for the announcements of that epoch or,
// had it none to wait for, has taken its group (both under qmu).
func waitLeading(a *Appender, n int) {
	for {
		a.qmu.Lock()
		e := a.epoch
		a.qmu.Unlock()
		if e >= n {
			return
		}
		runtime.Gosched()
	}
}

// A line announced with Expect while a group is in flight joins the next
// group even if it is queued after that group's leader took over: the
// leader waits for it, so the two lines share one fsync.
func TestAppenderNextGroupWaitsForAnnouncedLines(t *testing.T) {
	a, announced, second, fsyncs := announcedDuringAGroup(t)
	waitLeading(a, 2) // the leader of "second" has closed the epoch of the announcement
	if _, err := a.AppendLineExpectedAt([]byte("\"third\"\n"), announced); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if n := fsyncs.Load(); n != 2 {
		t.Errorf("%d fsyncs, want 2: the first line, then the two lines together", n)
	}
}

// A cancelled announcement no longer holds a group back.
func TestAppenderCancelledAnnouncementReleasesTheGroup(t *testing.T) {
	_, announced, second, _ := announcedDuringAGroup(t)
	announced.Cancel()
	announced.Cancel() // twice is harmless
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

// Lines announced while a leader waits are the next leader's to wait for:
// a steady stream of announcements cannot keep a group from its fsync.
func TestAppenderAnnouncementsAfterTheLeaderDoNotHoldItsGroup(t *testing.T) {
	a, early, second, _ := announcedDuringAGroup(t)
	// "second" leads (it closed the epoch of early); a line announced now
	// must not hold its group.
	waitLeading(a, 2)
	late := a.Expect()
	defer late.Cancel()
	early.Cancel()
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}
