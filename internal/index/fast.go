package index

import (
	"bytes"
	"encoding/json"
	"strconv"

	"cis490/internal/wire"
)

// The tails of index.jsonl and attempts.jsonl hold tens of thousands of rows
// per day on a busy receiver, and encoding/json spends microseconds on each.
// The rows the receiver writes are flat objects of plain strings and
// numbers, so the readers below pick fields out with byte searches and fall
// back to encoding/json for any line they cannot read that way. FuzzFastFields
// holds them to encoding/json's answers.

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
func (l flatLine) num(key []byte) (int64, bool) {
	i := bytes.Index(l, key)
	if i < 0 {
		return 0, false
	}
	rest := l[i+len(key):]
	j := 0
	for j < len(rest) && (rest[j] == '-' || '0' <= rest[j] && rest[j] <= '9') {
		j++
	}
	if j < len(rest) && rest[j] != ',' && rest[j] != '}' {
		return 0, false // a fraction or an exponent: not an integer
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
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
	keyBytes      = []byte(`"bytes":`)
	keyReceivedAt = []byte(`"received_at":`)
	keySource     = []byte(`"source":`)
	keyAgent      = []byte(`"agent":`)
)

// Head is the part of an index row that readers of the index's tail need.
type Head struct {
	ID         string `json:"id"`
	Host       string `json:"host"`
	ReceivedAt string `json:"received_at"`
	Source     string `json:"source"`
	Bytes      int64  `json:"bytes"`
}

// ParseHead reads an index row's id, host, time and source, with byte
// searches when the line allows and encoding/json otherwise. Nothing is
// validated; ok is false when the line is not a JSON object of the row's
// shape.
func ParseHead(line []byte) (h Head, ok bool) {
	if h, ok = parseHeadFast(line); ok {
		return h, true
	}
	h = Head{}
	return h, json.Unmarshal(line, &h) == nil
}

func parseHeadFast(line []byte) (h Head, ok bool) {
	l, ok := asFlat(line)
	if !ok {
		return h, false
	}
	if h.Host, ok = l.str(keyHost); !ok {
		return h, false
	}
	if h.ReceivedAt, ok = l.str(keyReceivedAt); !ok {
		return h, false
	}
	if h.ID, ok = l.str(keyID); !ok {
		return h, false
	}
	h.Source, _ = l.str(keySource)
	h.Bytes, _ = l.num(keyBytes)
	return h, true
}

// rowIDPrefix starts every row the receiver writes: the id comes first, and
// an id never holds a quote or a backslash, so it can be cut out without a
// JSON decoder.
var rowIDPrefix = []byte(`{"id":"`)

// RowID returns the id of an index row: a byte search for rows of the
// receiver's own shape, encoding/json for any other JSON object. ok is false
// when the line has no non-empty string id.
func RowID(line []byte) (string, bool) {
	if rest, ok := bytes.CutPrefix(line, rowIDPrefix); ok {
		if i := bytes.IndexByte(rest, '"'); i > 0 && wire.ValidID(string(rest[:i])) {
			return string(rest[:i]), true
		}
	}
	var r struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(line, &r) != nil || r.ID == "" {
		return "", false
	}
	return r.ID, true
}

// MayHoldID reports whether line can be the row of id: a byte search that
// lets a backward scan skip almost every other row without decoding it. A
// true answer must be confirmed with Parse.
func MayHoldID(line []byte, id string) bool {
	return bytes.Contains(line, []byte(`"id":"`+id+`"`))
}

// ParseAttempt reads one attempts.jsonl row, with byte searches when the
// line allows and encoding/json otherwise. Nothing is validated; ok is false
// when the line is not a JSON object of the row's shape.
func ParseAttempt(line []byte) (a Attempt, ok bool) {
	if a, ok = parseAttemptFast(line); ok {
		return a, true
	}
	a = Attempt{}
	return a, json.Unmarshal(line, &a) == nil
}

func parseAttemptFast(line []byte) (a Attempt, ok bool) {
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
	status, ok := l.num(keyStatus)
	if !ok || int64(int(status)) != status {
		return a, false
	}
	a.Status = int(status)
	a.ID, _ = l.str(keyID)
	a.Error, _ = l.str(keyError)
	a.Commit, _ = l.str(keyCommit)
	a.Bytes, _ = l.num(keyBytes)
	a.Agent, _ = l.str(keyAgent)
	return a, true
}
