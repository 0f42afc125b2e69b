package toml

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// parseInt parses a TOML decimal integer: optional sign, no leading zeros,
// '_' only between digits, within int64.
func parseInt(w string) (int64, error) {
	unsigned := strings.TrimLeft(w, "+-")
	switch {
	case w == "":
		return 0, fmt.Errorf("expected a value")
	case strings.HasPrefix(unsigned, "0x"), strings.HasPrefix(unsigned, "0o"), strings.HasPrefix(unsigned, "0b"):
		return 0, fmt.Errorf("invalid value %q: only decimal integers are supported", w)
	case strings.ContainsAny(w, ":") || len(unsigned) >= 5 && unsigned[4] == '-' && isDigits(unsigned[:4]):
		return 0, fmt.Errorf("invalid value %q: dates and times are not supported; use a string", w)
	case isDigits(unsigned[:min(1, len(unsigned))]) && strings.ContainsAny(unsigned, ".eE") || unsigned == "inf" || unsigned == "nan":
		return 0, fmt.Errorf("invalid value %q: floats are not supported", w)
	}
	s := w
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("invalid value %q (strings need quotes)", w)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("invalid integer %q: leading zeros are not allowed", w)
	}
	limit := uint64(1<<63 - 1)
	if neg {
		limit = 1 << 63
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if i+1 >= len(s) || s[i+1] < '0' || s[i+1] > '9' || s[i-1] == '_' {
				return 0, fmt.Errorf("invalid integer %q: '_' must stand between digits", w)
			}
			continue
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("invalid integer %q", w)
		}
		d := uint64(c - '0')
		if n > (limit-d)/10 {
			return 0, fmt.Errorf("integer %q out of range (64-bit signed)", w)
		}
		n = n*10 + d
	}
	if neg {
		return int64(-n), nil // -(1<<63) wraps to MinInt64, as intended
	}
	return int64(n), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// literalString reads '...': no escapes, no control characters but tab.
func (p *parser) literalString(name string) (string, error) {
	open := p.pos()
	p.advance() // '\''
	start := p.off
	for {
		c := p.peek(0)
		switch {
		case p.eof() || c == '\n' || c == '\r':
			return "", errAt(open, name, "unterminated string")
		case c == '\'':
			s := string(p.src[start:p.off])
			p.advance()
			return s, nil
		case isControl(c):
			return "", errAt(p.pos(), name, "control character %q in string", c)
		}
		p.advance()
	}
}

// basicString reads "..." with TOML's escapes.
func (p *parser) basicString(name string) (string, error) {
	open := p.pos()
	p.advance() // '"'
	var b strings.Builder
	for {
		c := p.peek(0)
		switch {
		case p.eof() || c == '\n' || c == '\r':
			return "", errAt(open, name, "unterminated string")
		case c == '"':
			p.advance()
			return b.String(), nil
		case c == '\\':
			if err := p.escape(name, &b); err != nil {
				return "", err
			}
			continue
		case isControl(c):
			return "", errAt(p.pos(), name, "control character %q in string; use an escape", c)
		}
		r, _ := utf8.DecodeRune(p.src[p.off:])
		b.WriteRune(r)
		p.advance()
	}
}

var simpleEscapes = map[byte]byte{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', '"': '"', '\\': '\\'}

// escape decodes one backslash escape into b.
func (p *parser) escape(name string, b *strings.Builder) error {
	epos := p.pos()
	p.advance() // '\\'
	c := p.peek(0)
	if r, ok := simpleEscapes[c]; ok {
		b.WriteByte(r)
		p.advance()
		return nil
	}
	var digits int
	switch c {
	case 'u':
		digits = 4
	case 'U':
		digits = 8
	default:
		if p.eof() || c == '\n' || c == '\r' {
			return errAt(epos, name, "invalid escape at end of line")
		}
		r, _ := utf8.DecodeRune(p.src[p.off:])
		return errAt(epos, name, "invalid escape \\%c", r)
	}
	p.advance()
	var r uint32 // wide enough for eight hex digits without wrapping
	for i := 0; i < digits; i++ {
		d := hexVal(p.peek(0))
		if d < 0 {
			return errAt(epos, name, "invalid \\%c escape: want %d hex digits", c, digits)
		}
		r = r<<4 | uint32(d)
		p.advance()
	}
	if r > utf8.MaxRune || (r >= 0xD800 && r <= 0xDFFF) {
		return errAt(epos, name, "invalid \\%c escape: U+%X is not a Unicode scalar value", c, r)
	}
	b.WriteRune(rune(r))
	return nil
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
