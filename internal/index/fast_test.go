package index

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzFastFields checks the byte-search readers against rows written by
// encoding/json: every field reads as encoding/json reads it, and only lines
// with escapes, braces, or a quote and colon split by a space inside strings
// fall back to encoding/json (asFlat refuses `" :` and `": ` anywhere). The
// public readers (ParseAttempt, ParseHead, RowID) must agree with
// encoding/json on every line, fast path or not.
func FuzzFastFields(f *testing.F) {
	f.Add("2026-11-23T14:20:00.000Z", "lab1", "ep-1", 412, "commit-not-in-window", "", "receiver")
	f.Add("t", "ghost\"", "id\":", -3, "", "0123", "backfill")
	f.Fuzz(func(t *testing.T, ts, host, id string, status int, code, commit, source string) {
		a := Attempt{TS: ts, Host: host, ID: id, Status: status, Error: code, Commit: commit, Bytes: int64(status) * 1009}
		line, _ := json.Marshal(a)
		var want Attempt
		json.Unmarshal(line, &want) // invalid UTF-8 comes back replaced
		got, ok := parseAttemptFast(line)
		if ok && got != want {
			t.Errorf("attempt %s: fast read %+v", line, got)
		}
		if !ok && mustBeFlat(line) {
			t.Errorf("attempt %s: fast path refused a line without escapes", line)
		}
		if got, ok := ParseAttempt(line); !ok || got != want {
			t.Errorf("attempt %s: ParseAttempt = %+v, %v", line, got, ok)
		}

		r := Row{ID: id, Host: host, SHA256: commit, Bytes: int64(status), ReceivedAt: ts, Commit: commit, Source: source}
		line, _ = json.Marshal(r)
		var wantH Head
		json.Unmarshal(line, &wantH)
		gotH, ok := parseHeadFast(line)
		if ok && gotH != wantH {
			t.Errorf("index %s: fast read %+v", line, gotH)
		}
		if !ok && mustBeFlat(line) {
			t.Errorf("index %s: fast path refused a line without escapes", line)
		}
		if got, ok := ParseHead(line); !ok || got != wantH {
			t.Errorf("index %s: ParseHead = %+v, %v", line, got, ok)
		}
		if got, ok := RowID(line); ok != (wantH.ID != "") || got != wantH.ID {
			t.Errorf("index %s: RowID = %q, %v; want %q", line, got, ok, wantH.ID)
		}
		if wantH.ID != "" && !MayHoldID(line, wantH.ID) && mustBeFlat(line) {
			t.Errorf("index %s: MayHoldID(%q) = false", line, wantH.ID)
		}
	})
}

// mustBeFlat reports whether the fast path must accept line: no escapes, no
// brace inside a string, and neither of the spaced key forms asFlat refuses
// (a string value may hold them, e.g. `" :`).
func mustBeFlat(line []byte) bool {
	return !bytes.ContainsAny(line, "\\") && bytes.Count(line, []byte("{")) == 1 &&
		!bytes.Contains(line, []byte(`" :`)) && !bytes.Contains(line, []byte(`": `))
}

func TestFastReadersFallBack(t *testing.T) {
	escaped := []byte(`{"id":"ep-1","host":"lab\u0031","received_at":"2026-01-01T00:00:00.000Z","source":"receiver"}`)
	if h, ok := ParseHead(escaped); !ok || h.Host != "lab1" || h.ID != "ep-1" {
		t.Errorf("ParseHead of an escaped row = %+v, %v", h, ok)
	}
	if _, ok := ParseHead([]byte(`["not","an","object"]`)); ok {
		t.Error("ParseHead accepted an array")
	}
	frac := []byte(`{"ts":"t","host":"lab1","status":1.5}`)
	if _, ok := parseAttemptFast(frac); ok {
		t.Error("the fast path read 1.5 as an integer status")
	}
}

func TestRowIDFastPathAgreesWithJSON(t *testing.T) {
	sha := strings.Repeat("0", 64)
	cases := []struct {
		line string
		id   string
		ok   bool
	}{
		{`{"id":"ep-1","host":"h","sha256":"` + sha + `"}`, "ep-1", true},
		{`{"host":"h","id":"ep-2"}`, "ep-2", true},
		{`{ "id" : "ep-3" }`, "ep-3", true},
		{`{"id":"ep\u002d4"}`, "ep-4", true},
		{`{"id":""}`, "", false},
		{`{"id":"ep-5`, "", false},
		{`not json`, "", false},
	}
	for _, tc := range cases {
		id, ok := RowID([]byte(tc.line))
		if id != tc.id || ok != tc.ok {
			t.Errorf("RowID(%s) = %q %v, want %q %v", tc.line, id, ok, tc.id, tc.ok)
		}
	}
}
