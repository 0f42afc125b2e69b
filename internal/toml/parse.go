package toml

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Parse parses a document of the subset and returns its root table. Any
// error is an *Error with the position of the offending character.
//
// A leading UTF-8 byte order mark is skipped and CRLF line endings are
// accepted, as TOML allows.
func Parse(data []byte) (*Table, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if err := checkUTF8(data); err != nil {
		return nil, err
	}
	p := &parser{src: data, line: 1, col: 1, root: &Table{}}
	p.cur = p.root
	if err := p.document(); err != nil {
		return nil, err
	}
	return p.root, nil
}

// checkUTF8 finds the first invalid UTF-8 sequence, so the parser itself can
// decode runes without checking.
func checkUTF8(data []byte) error {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return &Error{Line: line, Col: col, Msg: "invalid UTF-8"}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return nil
}

type parser struct {
	src       []byte
	off       int
	line, col int
	root, cur *Table
}

func (p *parser) pos() Pos { return Pos{p.line, p.col} }

func (p *parser) eof() bool { return p.off >= len(p.src) }

// peek returns the byte at off+i, or 0 past the end.
func (p *parser) peek(i int) byte {
	if p.off+i < len(p.src) {
		return p.src[p.off+i]
	}
	return 0
}

// advance moves past one rune.
func (p *parser) advance() {
	if p.eof() {
		return
	}
	if p.src[p.off] == '\n' {
		p.off++
		p.line, p.col = p.line+1, 1
		return
	}
	_, n := utf8.DecodeRune(p.src[p.off:])
	p.off += n
	p.col++
}

func errAt(pos Pos, key, format string, args ...any) *Error {
	return &Error{Line: pos.Line, Col: pos.Col, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// describe names the character at the current position for error messages.
func (p *parser) describe() string {
	if p.eof() {
		return "end of file"
	}
	r, _ := utf8.DecodeRune(p.src[p.off:])
	switch r {
	case '\n':
		return "end of line"
	case '\r':
		return "carriage return"
	}
	return fmt.Sprintf("%q", r)
}

func (p *parser) document() error {
	for {
		p.skipSpace()
		if p.eof() {
			return nil
		}
		switch c := p.peek(0); {
		case c == '#':
			if err := p.comment(); err != nil {
				return err
			}
		case c == '\n' || c == '\r':
			if err := p.newline(); err != nil {
				return err
			}
		case c == '[':
			if err := p.header(); err != nil {
				return err
			}
			if err := p.endOfLine(); err != nil {
				return err
			}
		default:
			if err := p.keyValue(); err != nil {
				return err
			}
			if err := p.endOfLine(); err != nil {
				return err
			}
		}
	}
}

func (p *parser) skipSpace() {
	for c := p.peek(0); c == ' ' || c == '\t'; c = p.peek(0) {
		p.advance()
	}
}

// newline consumes LF or CRLF; a lone CR is an error.
func (p *parser) newline() error {
	switch p.peek(0) {
	case '\n':
		p.advance()
		return nil
	case '\r':
		if p.peek(1) == '\n' {
			p.advance()
			p.advance()
			return nil
		}
	}
	return errAt(p.pos(), "", "expected end of line, found %s", p.describe())
}

// comment consumes '#' up to (not including) the line end. TOML forbids
// control characters other than tab inside comments.
func (p *parser) comment() error {
	p.advance() // '#'
	for !p.eof() {
		c := p.peek(0)
		if c == '\n' || (c == '\r' && p.peek(1) == '\n') {
			return nil
		}
		if isControl(c) {
			return errAt(p.pos(), "", "control character %q in comment", c)
		}
		p.advance()
	}
	return nil
}

// isControl reports whether c is a control character TOML forbids in
// strings and comments (all but tab).
func isControl(c byte) bool {
	return (c < 0x20 && c != '\t') || c == 0x7f
}

// endOfLine accepts optional spaces, an optional comment, then a newline or
// the end of the file.
func (p *parser) endOfLine() error {
	p.skipSpace()
	if p.peek(0) == '#' {
		if err := p.comment(); err != nil {
			return err
		}
	}
	if p.eof() {
		return nil
	}
	return p.newline()
}

func isBareKeyChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// bareKey reads one bare key.
func (p *parser) bareKey() (string, Pos, error) {
	pos := p.pos()
	switch p.peek(0) {
	case '"', '\'':
		return "", pos, errAt(pos, "", "quoted keys are not supported; use a bare key (A-Za-z0-9_-)")
	}
	start := p.off
	for isBareKeyChar(p.peek(0)) {
		p.advance()
	}
	if p.off == start {
		return "", pos, errAt(pos, "", "expected a key, found %s", p.describe())
	}
	return string(p.src[start:p.off]), pos, nil
}

// header reads a [a.b] line and makes its table current.
func (p *parser) header() error {
	hpos := p.pos()
	p.advance() // '['
	if p.peek(0) == '[' {
		return errAt(hpos, "", "arrays of tables ([[...]]) are not supported")
	}
	var path []string
	for {
		p.skipSpace()
		k, _, err := p.bareKey()
		if err != nil {
			return err
		}
		path = append(path, k)
		p.skipSpace()
		if p.peek(0) == ']' {
			p.advance()
			break
		}
		if p.peek(0) != '.' {
			return errAt(p.pos(), strings.Join(path, "."), "expected '.' or ']' in table header, found %s", p.describe())
		}
		p.advance()
	}
	t, err := p.defineTable(path, hpos)
	if err != nil {
		return err
	}
	p.cur = t
	return nil
}

// defineTable finds or creates the table at path, creating missing parents
// as implicit tables. A table may be defined by a header only once.
func (p *parser) defineTable(path []string, hpos Pos) (*Table, error) {
	t := p.root
	for i, k := range path {
		name := strings.Join(path[:i+1], ".")
		last := i == len(path)-1
		e := t.Get(k)
		if e == nil {
			sub := &Table{Path: name, Pos: hpos, Implicit: !last}
			t.add(&Entry{Key: k, Pos: hpos, Value: &Value{Kind: KindTable, Pos: hpos, Table: sub}})
			t = sub
			continue
		}
		if e.Value.Kind != KindTable {
			return nil, errAt(hpos, name, "already defined as a value at %s, not a table", e.Pos)
		}
		t = e.Value.Table
		if last {
			if !t.Implicit {
				return nil, errAt(hpos, name, "table defined twice (first at %s)", t.Pos)
			}
			t.Implicit = false
			t.Pos, e.Pos, e.Value.Pos = hpos, hpos, hpos
		}
	}
	return t, nil
}

// dottedKey reads the rest of a dotted key (".b.c") after name, so an error
// names the key as written, with its table; it stops at the first segment
// that is not a bare key.
func (p *parser) dottedKey(name string) string {
	save := *p
	for p.peek(0) == '.' {
		p.advance()
		p.skipSpace()
		seg, _, err := p.bareKey()
		if err != nil {
			break
		}
		name += "." + seg
		p.skipSpace()
	}
	*p = save
	return name
}

// keyValue reads key = value into the current table.
func (p *parser) keyValue() error {
	k, kpos, err := p.bareKey()
	if err != nil {
		return err
	}
	name := p.cur.KeyPath(k)
	p.skipSpace()
	switch p.peek(0) {
	case '.':
		return errAt(p.pos(), p.dottedKey(name), "dotted keys are not supported; use a [table] header")
	case '=':
		p.advance()
	default:
		return errAt(p.pos(), name, "expected '=' after key, found %s", p.describe())
	}
	p.skipSpace()
	v, err := p.value(name)
	if err != nil {
		return err
	}
	if prev := p.cur.Get(k); prev != nil {
		what := "key"
		if prev.Value.Kind == KindTable {
			what = "table"
		}
		return errAt(kpos, name, "duplicate key: already defined as a %s at %s", what, prev.Pos)
	}
	p.cur.add(&Entry{Key: k, Pos: kpos, Value: v})
	return nil
}

// value reads one value; name is the key's path for error messages.
func (p *parser) value(name string) (*Value, error) {
	pos := p.pos()
	switch c := p.peek(0); {
	case c == '"':
		if p.peek(1) == '"' && p.peek(2) == '"' {
			return nil, errAt(pos, name, `multi-line strings (""") are not supported`)
		}
		s, err := p.basicString(name)
		if err != nil {
			return nil, err
		}
		return &Value{Kind: KindString, Pos: pos, Str: s}, nil
	case c == '\'':
		if p.peek(1) == '\'' && p.peek(2) == '\'' {
			return nil, errAt(pos, name, "multi-line strings (''') are not supported")
		}
		s, err := p.literalString(name)
		if err != nil {
			return nil, err
		}
		return &Value{Kind: KindString, Pos: pos, Str: s}, nil
	case c == '[':
		return p.array(name)
	case c == '{':
		return nil, errAt(pos, name, "inline tables are not supported; use a [table] header")
	case c >= '0' && c <= '9', c == '+', c == '-', c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return p.scalarWord(name)
	}
	return nil, errAt(pos, name, "expected a value, found %s", p.describe())
}

// scalarWord reads an unquoted value: a boolean or a decimal integer. Floats,
// dates and other integer bases are recognised only to name them in the error.
func (p *parser) scalarWord(name string) (*Value, error) {
	pos := p.pos()
	start := p.off
	for c := p.peek(0); isBareKeyChar(c) || c == '+' || c == '.' || c == ':'; c = p.peek(0) {
		p.advance()
	}
	w := string(p.src[start:p.off])
	switch w {
	case "true":
		return &Value{Kind: KindBool, Pos: pos, Bool: true}, nil
	case "false":
		return &Value{Kind: KindBool, Pos: pos, Bool: false}, nil
	}
	n, err := parseInt(w)
	if err != nil {
		return nil, errAt(pos, name, "%s", err)
	}
	return &Value{Kind: KindInteger, Pos: pos, Int: n}, nil
}

// array reads a one-level array of strings or of integers, which may span
// lines and hold comments and a trailing comma.
func (p *parser) array(name string) (*Value, error) {
	v := &Value{Kind: KindArray, Pos: p.pos(), Array: []*Value{}}
	p.advance() // '['
	for {
		if err := p.skipArraySpace(); err != nil {
			return nil, err
		}
		if p.peek(0) == ']' {
			p.advance()
			return v, nil
		}
		epos := p.pos()
		switch p.peek(0) {
		case '[':
			return nil, errAt(epos, name, "nested arrays are not supported")
		case ',':
			return nil, errAt(epos, name, "expected a value or ']', found ','")
		}
		if p.eof() {
			return nil, errAt(epos, name, "unterminated array (opened at %s)", v.Pos)
		}
		e, err := p.value(name)
		if err != nil {
			return nil, err
		}
		if e.Kind != KindString && e.Kind != KindInteger {
			return nil, errAt(epos, name, "arrays may hold only strings or integers, found %s", e.Kind)
		}
		if len(v.Array) > 0 && e.Kind != v.Array[0].Kind {
			return nil, errAt(epos, name, "mixed array: %s after %s", e.Kind, v.Array[0].Kind)
		}
		v.Array = append(v.Array, e)
		if err := p.skipArraySpace(); err != nil {
			return nil, err
		}
		switch p.peek(0) {
		case ',':
			p.advance()
		case ']':
			p.advance()
			return v, nil
		default:
			if p.eof() {
				return nil, errAt(p.pos(), name, "unterminated array (opened at %s)", v.Pos)
			}
			return nil, errAt(p.pos(), name, "expected ',' or ']' in array, found %s", p.describe())
		}
	}
}

// skipArraySpace skips spaces, newlines and comments between array elements.
func (p *parser) skipArraySpace() error {
	for {
		p.skipSpace()
		switch p.peek(0) {
		case '#':
			if err := p.comment(); err != nil {
				return err
			}
		case '\n', '\r':
			if err := p.newline(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}
