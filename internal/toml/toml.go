// Package toml parses the small TOML subset used by cis490's config files
// (SPEC §11): comments, bare keys, [table] and [a.b] headers, one-line basic
// and literal strings, decimal integers, booleans and one-level arrays of
// strings or integers. Everything else in TOML 1.0 is rejected with an *Error
// that carries a line and column, so a config file is either read exactly or
// refused.
package toml

import (
	"fmt"
	"strings"
)

// Pos is a position in the source: 1-based line and column. Columns count
// characters (runes), not bytes, as an editor shows them.
type Pos struct {
	Line int
	Col  int
}

// String returns "line:col".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Kind is the type of a Value.
type Kind uint8

// The kinds of value the subset knows.
const (
	KindString Kind = iota + 1
	KindInteger
	KindBool
	KindArray
	KindTable
)

var kindNames = [...]string{
	KindString:  "string",
	KindInteger: "integer",
	KindBool:    "boolean",
	KindArray:   "array",
	KindTable:   "table",
}

// String returns the kind's name as used in error messages ("string", "integer", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Value is one parsed value. Only the field matching Kind is meaningful.
type Value struct {
	Kind  Kind
	Pos   Pos      // first character of the value; for a table, the '[' of its header
	Str   string   // KindString: the decoded string
	Int   int64    // KindInteger
	Bool  bool     // KindBool
	Array []*Value // KindArray: elements, all of one kind (string or integer)
	Table *Table   // KindTable
}

// Entry is one key of a table with its value.
type Entry struct {
	Key   string
	Pos   Pos // first character of the key (for a table: of its header)
	Value *Value
}

// Table is a TOML table: its entries in document order. Subtables are
// entries whose Value has KindTable.
type Table struct {
	// Path is the dotted name of the table ("auth.hosts"); empty for the root.
	Path string
	// Pos is the '[' of the header that defined the table; zero for the root.
	Pos Pos
	// Implicit reports that the table was only created as the parent of a
	// header ([a] is implicit after "[a.b]" alone) and may still be defined.
	Implicit bool
	Entries  []*Entry
	index    map[string]int
}

// Get returns the entry for key, or nil if the table has no such key.
func (t *Table) Get(key string) *Entry {
	if i, ok := t.index[key]; ok {
		return t.Entries[i]
	}
	return nil
}

// KeyPath returns the dotted path of key inside t ("server.listen").
func (t *Table) KeyPath(key string) string {
	if t.Path == "" {
		return key
	}
	return t.Path + "." + key
}

func (t *Table) add(e *Entry) {
	if t.index == nil {
		t.index = make(map[string]int)
	}
	t.index[e.Key] = len(t.Entries)
	t.Entries = append(t.Entries, e)
}

// Error is a parse error at a position. Key is the dotted path of the key
// or table involved, when known.
type Error struct {
	Line int
	Col  int
	Key  string
	Msg  string
}

// Error formats the error as `line:col: key "k": msg`, leaving out the key
// part when Key is empty.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Col)
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}
