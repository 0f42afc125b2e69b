// Package hosthealth owns host-health/<host>.json (SPEC §4.5): the record
// the receiver keeps of each host's latest health report. The API writes
// it and streams it back; fleet-health and the fleet view read it through
// Each. Where the directory lives is receiver/datadir's business.
package hosthealth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cis490/internal/wire"
)

// MaxReportBytes bounds one host's report (SPEC §4.5).
const MaxReportBytes = 1 << 20

// maxFileBytes bounds what Each reads of one file: a report of
// MaxReportBytes and the record around it.
const maxFileBytes = MaxReportBytes + 4<<10

// Record is a stored report: the file host-health/<host>.json is exactly
// {"host":"<host>","received_at":"<time>","report":<the report>} and a
// newline, fields in this order, which lets the API stream the files
// without decoding them.
type Record struct {
	Host       string          `json:"host"`
	ReceivedAt string          `json:"received_at"`
	Report     json.RawMessage `json:"report"`
}

// HostOf returns the host whose record file is called name, and false for
// any other name (a temp file of a write in progress, a stray).
func HostOf(name string) (string, bool) {
	host, ok := strings.CutSuffix(name, ".json")
	return host, ok && wire.ValidHost(host)
}

// Prefix is how the stored record of host starts; what follows it, up to
// the final newline, is `"received_at":…,"report":…}`.
func Prefix(host string) string { return `{"host":"` + host + `",` }

// Head is everything of host's record before the report itself, for a
// writer that streams the report in after it and closes with "}\n".
func Head(host string, receivedAt time.Time) string {
	return Prefix(host) + `"received_at":"` + wire.FormatTime(receivedAt) + `","report":`
}

// Each calls fn, in host order, for every record file in dir (a regular
// file named for a valid host). ok is false when the file does not hold a
// record of that host (torn, another shape, too large); modTime is the
// file's. A missing dir holds none, and files removed since the listing are
// skipped; any other read error ends the walk.
func Each(dir string, fn func(host string, rec Record, ok bool, modTime time.Time)) error {
	ents, err := os.ReadDir(dir) // sorted by name, so by host
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range ents {
		host, ok := HostOf(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		rec, ok, modTime, err := read(path, host)
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced or removed since the listing
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		fn(host, rec, ok, modTime)
	}
	return nil
}

func read(path, host string) (rec Record, ok bool, modTime time.Time, err error) {
	f, err := os.Open(path)
	if err != nil {
		return rec, false, modTime, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return rec, false, modTime, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return rec, false, st.ModTime(), err
	}
	if len(b) > maxFileBytes || json.Unmarshal(b, &rec) != nil || rec.Host != host {
		return Record{}, false, st.ModTime(), nil
	}
	return rec, true, st.ModTime(), nil
}
