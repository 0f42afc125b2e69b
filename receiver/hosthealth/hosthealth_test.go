package hosthealth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHeadMakesARecordEachReads(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write("lab1.json", Head("lab1", at)+`{"overall":"ok"}`+"}\n")
	write("lab2.json", Head("lab3", at)+`{}`+"}\n")     // another host's record
	write("lab4.json", Head("lab4", at)+`{"overall":`)  // torn
	write(".lab5.json.tmp-1", Head("lab5", at)+"{}}\n") // a write in progress
	write("bad host.json", "{}")
	type seen struct {
		ok       bool
		received string
		report   string
	}
	got := map[string]seen{}
	var order []string
	err := Each(dir, func(host string, rec Record, ok bool, modTime time.Time) {
		order = append(order, host)
		got[host] = seen{ok, rec.ReceivedAt, string(rec.Report)}
		if modTime.IsZero() {
			t.Errorf("%s: no modification time", host)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "lab1,lab2,lab4" {
		t.Errorf("visited %v, want lab1,lab2,lab4 in host order", order)
	}
	if g := got["lab1"]; !g.ok || g.received != "2026-11-23T14:00:00.000Z" || g.report != `{"overall":"ok"}` {
		t.Errorf("lab1 = %+v", g)
	}
	if got["lab2"].ok || got["lab4"].ok {
		t.Errorf("another host's record or a torn one read as valid: %+v", got)
	}
	if err := Each(filepath.Join(dir, "absent"), func(string, Record, bool, time.Time) { t.Error("called") }); err != nil {
		t.Errorf("missing dir: %v", err)
	}
}

func FuzzEach(f *testing.F) {
	f.Add([]byte(Head("lab1", time.Unix(0, 0)) + "{}}\n"))
	f.Add([]byte(`{"host":"lab1","report":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "lab1.json"), b, 0o640); err != nil {
			t.Fatal(err)
		}
		err := Each(dir, func(host string, rec Record, ok bool, _ time.Time) {
			if ok && rec.Host != host {
				t.Errorf("record of %q accepted as %q's", rec.Host, host)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
