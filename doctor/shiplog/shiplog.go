// Package shiplog reads the shipper's upload-outcome log lines (SPEC §8), as
// journalctl -o cat prints them, and sums them up for the doctor.
package shiplog

import (
	"bufio"
	"io"
	"strconv"
	"strings"

	"cis490/internal/wire"
)

// Fields parses one key=value line as log/slog's text handler writes it:
// pairs separated by spaces, values bare or Go-quoted. A malformed quoted
// value is kept as written; text that is not a pair is skipped.
func Fields(line string) map[string]string {
	m := make(map[string]string)
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		start := i
		for i < len(line) && line[i] != '=' && line[i] != ' ' {
			i++
		}
		if i >= len(line) || line[i] != '=' {
			continue // a bare word
		}
		key := line[start:i]
		i++ // '='
		if i < len(line) && line[i] == '"' {
			end := quotedEnd(line, i)
			raw := line[i:end]
			if v, err := strconv.Unquote(raw); err == nil {
				m[key] = v
			} else {
				m[key] = strings.Trim(raw, `"`)
			}
			i = end
			continue
		}
		vs := i
		for i < len(line) && line[i] != ' ' {
			i++
		}
		m[key] = line[vs:i]
	}
	return m
}

// quotedEnd returns the index just past the closing quote of the quoted
// string starting at line[i], or len(line) when it is not closed.
func quotedEnd(line string, i int) int {
	for j := i + 1; j < len(line); j++ {
		switch line[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(line)
}

// Summary counts the outcomes of a stretch of the shipper's log. Maps are
// keyed by "status code", e.g. "400 missing-commit".
type Summary struct {
	Shipped     int            // 2xx, stored or duplicate
	OutOfWindow int            // 412 commit-not-in-window rejections
	Rejected    map[string]int // other fatal rejections (400, 409, 413)
	Refused     map[string]int // credential refusals (401, 403)
	Transient   map[string]int // failures that will be retried
	// Remediation is the newest remediation text logged with a 412.
	Remediation string
}

// Read sums up every line of r.
func Read(r io.Reader) (Summary, error) {
	s := Summary{Rejected: map[string]int{}, Refused: map[string]int{}, Transient: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		s.Add(sc.Text())
	}
	return s, sc.Err()
}

// Add counts one line; lines that are not upload outcomes are ignored.
func (s *Summary) Add(line string) {
	if !strings.Contains(line, "msg=") {
		return
	}
	f := Fields(line)
	status := f["status"]
	if status == "0" {
		status = "" // a local or network failure: no answer to count by
	}
	key := strings.TrimSpace(status + " " + f["error"])
	switch f["msg"] {
	case wire.LogShipped, wire.LogShipDuplicate:
		s.Shipped++
	case wire.LogShipRejected:
		if f["status"] == "412" || f["error"] == wire.CodeCommitNotInWindow {
			s.OutOfWindow++
			if rem := f["remediation"]; rem != "" {
				s.Remediation = rem
			}
			return
		}
		s.Rejected[key]++
	case wire.LogShipAuth:
		s.Refused[key]++
	case wire.LogShipFailed:
		s.Transient[key]++
	}
}
