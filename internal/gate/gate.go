// Package gate holds the version gate's decision (SPEC §7): the verdicts, the
// snapshot of valid commits a decision is made against, and the receiver's
// refusal answers. Only the receiver decides (receiver/gatecache keeps the
// snapshot); the package sits in internal/ because its verdict names and its
// rule for a well-formed commit are part of the wire contract that lab-host
// tools may check against, and it depends on nothing but the standard
// library.
package gate

import (
	"errors"
	"fmt"
	"time"
)

// Verdict is the gate's answer for one commit header. The values are stable:
// they appear in ping replies (SPEC §4.4) and in error codes (SPEC §4.2).
type Verdict string

// The verdicts. Pass and Disabled admit the upload; the others refuse it.
const (
	Pass            Verdict = "pass"
	MissingCommit   Verdict = "missing-commit"
	MalformedCommit Verdict = "malformed-commit"
	NotInWindow     Verdict = "commit-not-in-window"
	Unavailable     Verdict = "gate-unavailable"
	Disabled        Verdict = "disabled"
)

// Refused reports whether v turns the upload away.
func (v Verdict) Refused() bool { return v != Pass && v != Disabled }

// Commit is a commit id in binary form. Decoding into a fixed array makes the
// lookup key case-free and keeps Check free of allocations.
type Commit [20]byte

// ParseCommit decodes exactly 40 hex digits of either case (SPEC §2).
func ParseCommit(s string) (Commit, bool) {
	var c Commit
	if len(s) != 2*len(c) {
		return c, false
	}
	for i := range c {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return Commit{}, false
		}
		c[i] = hi<<4 | lo
	}
	return c, true
}

// String returns the commit as 40 lowercase hex digits.
func (c Commit) String() string {
	const digits = "0123456789abcdef"
	var b [40]byte
	for i, x := range c {
		b[2*i] = digits[x>>4]
		b[2*i+1] = digits[x&0xf]
	}
	return string(b[:])
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ErrEmptyList is returned by NewSnapshot for a source that listed no
// commits: an empty list must never replace a good one or cause 412s.
var ErrEmptyList = errors.New("gate: empty commit list")

// Snapshot is one loaded list of valid commits. It is immutable once built,
// so readers share it without locks.
type Snapshot struct {
	Head   string    // newest commit of the branch, lowercase
	Window int       // configured window the list was cut to
	Source string    // where the list came from: "forgejo", "git" or "git-fallback"
	Loaded time.Time // when the list was loaded

	commits map[Commit]struct{}
}

// NewSnapshot builds a snapshot from commits listed newest first, keeping the
// first window of them (all of them when window <= 0). A malformed entry or
// an empty list is an error: the source is then treated as failed.
func NewSnapshot(commits []string, window int, source string, loaded time.Time) (*Snapshot, error) {
	if window > 0 && len(commits) > window {
		commits = commits[:window]
	}
	if len(commits) == 0 {
		return nil, ErrEmptyList
	}
	s := &Snapshot{Window: window, Source: source, Loaded: loaded, commits: make(map[Commit]struct{}, len(commits))}
	for i, h := range commits {
		c, ok := ParseCommit(h)
		if !ok {
			return nil, fmt.Errorf("gate: commit %d of %s: malformed %q", i+1, source, truncate(h, 80))
		}
		if i == 0 {
			s.Head = c.String()
		}
		s.commits[c] = struct{}{}
	}
	return s, nil
}

// Len returns the number of distinct commits in the snapshot; 0 for nil.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.commits)
}

// Contains reports whether c is among the snapshot's commits.
func (s *Snapshot) Contains(c Commit) bool {
	if s == nil {
		return false
	}
	_, ok := s.commits[c]
	return ok
}

// SameCommits reports whether s and o hold the same commits with the same
// head, so a refresh can tell whether anything changed.
func (s *Snapshot) SameCommits(o *Snapshot) bool {
	if s == nil || o == nil {
		return s == o
	}
	if s.Head != o.Head || len(s.commits) != len(o.commits) {
		return false
	}
	for c := range s.commits {
		if _, ok := o.commits[c]; !ok {
			return false
		}
	}
	return true
}

// Check decides an enabled gate's verdict for the value of the commit header;
// present reports whether the header was sent at all, and an empty value
// counts as missing. A nil snapshot means no list was ever loaded: a
// well-formed commit then gets Unavailable, never NotInWindow (SPEC §4.2 rows
// 9–11 in that order). Check does not allocate.
func (s *Snapshot) Check(header string, present bool) Verdict {
	if !present || header == "" {
		return MissingCommit
	}
	c, ok := ParseCommit(header)
	if !ok {
		return MalformedCommit
	}
	if s == nil {
		return Unavailable
	}
	if _, ok := s.commits[c]; !ok {
		return NotInWindow
	}
	return Pass
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
