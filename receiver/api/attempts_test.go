package api

import (
	"fmt"
	"os"
	"testing"

	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/receiver/datadir"
)

func TestAttemptsLogRotates(t *testing.T) {
	dir := datadir.New(t.TempDir())
	path := dir.Attempts()
	l, err := OpenAttemptsLog(dir, 300)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := l.Append(index.Attempt{TS: "t", Host: "lab1", ID: fmt.Sprint("ep", i), Status: 201}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	count := func(p string) int {
		n := 0
		if _, err := jsonl.ScanFile(p, func([]byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cur, old := count(path), count(dir.AttemptsRotated())
	if cur == 0 || old == 0 {
		t.Fatalf("current %d rows, rotated %d rows; want both non-empty", cur, old)
	}
	if st, _ := os.Stat(path); st.Size() > 300+200 {
		t.Errorf("current file %d bytes, limit 300", st.Size())
	}
	if cur+old > 10 {
		t.Errorf("%d rows in total, more than written", cur+old)
	}
}

func TestAttemptsRecordTheAgent(t *testing.T) {
	e := newEnv(t, nil)
	r := putReq("ep-agent", []byte("x"))
	r.Header.Set("User-Agent", "cis490-shipper/v2.1")
	e.do(r)
	a := e.attempts()
	if len(a) != 1 || a[0].Agent != "cis490-shipper/v2.1" {
		t.Fatalf("attempts %+v, want one row with agent cis490-shipper/v2.1", a)
	}
}
