package fleethealth

import (
	"bytes"
	"strconv"
)

// The index tail of a busy receiver holds tens of thousands of rows per day,
// and encoding/json spends microseconds on each. The rows the receiver writes
// are flat objects of plain strings and numbers, so the check picks its few
// fields out with byte searches and falls back to encoding/json for any line
// it cannot read that way.

// flatLine is a line the byte searches read correctly: one flat object with
// no escapes and every key written as "key": with nothing between the quote
// and the colon. Inside a string without escapes a '"' always ends the
// string, so `"key":` can then only be a top-level key.
type flatLine []byte

// asFlat returns line as a flatLine when the fast path applies.
func asFlat(line []byte) (flatLine, bool) {
	n := len(line)
	if n < 2 || line[0] != '{' || line[n-1] != '}' ||
		bytes.IndexByte(line[1:], '{') >= 0 || bytes.IndexByte(line, '\\') >= 0 ||
		bytes.Contains(line, []byte(`" :`)) || bytes.Contains(line, []byte(`": `)) {
		return nil, false
	}
	return flatLine(line), true
}

// str returns the string value of key, and false when the key is absent or
// its value is not a string.
func (l flatLine) str(key []byte) (string, bool) {
	i := bytes.Index(l, key)
	if i < 0 {
		return "", false
	}
	rest := l[i+len(key):]
	if len(rest) == 0 || rest[0] != '"' {
		return "", false
	}
	rest = rest[1:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// num returns the integer value of key, and false when the key is absent or
// its value is not an integer.
func (l flatLine) num(key []byte) (int, bool) {
	i := bytes.Index(l, key)
	if i < 0 {
		return 0, false
	}
	rest := l[i+len(key):]
	j := 0
	for j < len(rest) && (rest[j] == '-' || '0' <= rest[j] && rest[j] <= '9') {
		j++
	}
	n, err := strconv.Atoi(string(rest[:j]))
	return n, err == nil
}

// Keys as they appear in a flat line, quote and colon included.
var (
	keyTS         = []byte(`"ts":`)
	keyHost       = []byte(`"host":`)
	keyID         = []byte(`"id":`)
	keyStatus     = []byte(`"status":`)
	keyError      = []byte(`"error":`)
	keyCommit     = []byte(`"commit":`)
	keyReceivedAt = []byte(`"received_at":`)
	keySource     = []byte(`"source":`)
)

// indexFields is the part of an index row the check uses.
type indexFields struct {
	Host       string `json:"host"`
	ReceivedAt string `json:"received_at"`
	Source     string `json:"source"`
}

// parseIndexFast reads an index row's host, time and source from a flat
// line; ok is false when the line needs encoding/json.
func parseIndexFast(line []byte) (r indexFields, ok bool) {
	l, ok := asFlat(line)
	if !ok {
		return r, false
	}
	if r.Host, ok = l.str(keyHost); !ok {
		return r, false
	}
	if r.ReceivedAt, ok = l.str(keyReceivedAt); !ok {
		return r, false
	}
	r.Source, _ = l.str(keySource)
	return r, true
}

// parseAttemptFast reads an attempts row from a flat line; ok is false when
// the line needs encoding/json.
func parseAttemptFast(line []byte) (a attempt, ok bool) {
	l, ok := asFlat(line)
	if !ok {
		return a, false
	}
	if a.TS, ok = l.str(keyTS); !ok {
		return a, false
	}
	if a.Host, ok = l.str(keyHost); !ok {
		return a, false
	}
	if a.Status, ok = l.num(keyStatus); !ok {
		return a, false
	}
	a.ID, _ = l.str(keyID)
	a.Error, _ = l.str(keyError)
	a.Commit, _ = l.str(keyCommit)
	return a, true
}
