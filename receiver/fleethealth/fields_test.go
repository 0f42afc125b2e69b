package fleethealth

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzFastFields checks the byte-search readers against rows written by
// encoding/json: every field reads as encoding/json reads it, and only lines with
// escapes, braces, or a quote and colon split by a space inside strings fall
// back to encoding/json (asFlat refuses `" :` and `": ` anywhere).
func FuzzFastFields(f *testing.F) {
	f.Add("2026-11-23T14:20:00.000Z", "lab1", "ep-1", 412, "commit-not-in-window", "", "receiver")
	f.Add("t", "ghost\"", "id\":", -3, "", "0123", "backfill")
	f.Fuzz(func(t *testing.T, ts, host, id string, status int, code, commit, source string) {
		a := attempt{TS: ts, Host: host, ID: id, Status: status, Error: code, Commit: commit}
		line, _ := json.Marshal(a)
		var want attempt
		json.Unmarshal(line, &want) // invalid UTF-8 comes back replaced
		got, ok := parseAttemptFast(line)
		if ok && got != want {
			t.Errorf("attempt %s: fast read %+v", line, got)
		}
		if !ok && mustBeFlat(line) {
			t.Errorf("attempt %s: fast path refused a line without escapes", line)
		}
		r := indexFields{Host: host, ReceivedAt: ts, Source: source}
		line, _ = json.Marshal(struct {
			ID string `json:"id"`
			indexFields
			Commit string `json:"commit"`
		}{id, r, commit})
		var wantR indexFields
		json.Unmarshal(line, &wantR)
		gotR, ok := parseIndexFast(line)
		if ok && gotR != wantR {
			t.Errorf("index %s: fast read %+v", line, gotR)
		}
		if !ok && mustBeFlat(line) {
			t.Errorf("index %s: fast path refused a line without escapes", line)
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
