package toml

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Encode writes t back as a document of the subset that Parse reads into an
// equal tree (positions aside). Each table's plain keys come first, then its
// subtables under their own headers; an implicit table with no plain keys
// gets no header of its own.
func Encode(t *Table) []byte {
	var b bytes.Buffer
	encodeTable(&b, t)
	return b.Bytes()
}

func encodeTable(b *bytes.Buffer, t *Table) {
	if t.Path != "" && (!t.Implicit || hasPlainKeys(t)) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(b, "[%s]\n", t.Path)
	}
	for _, e := range t.Entries {
		if e.Value.Kind == KindTable {
			continue
		}
		b.WriteString(e.Key)
		b.WriteString(" = ")
		encodeValue(b, e.Value)
		b.WriteByte('\n')
	}
	for _, e := range t.Entries {
		if e.Value.Kind == KindTable {
			encodeTable(b, e.Value.Table)
		}
	}
}

func hasPlainKeys(t *Table) bool {
	for _, e := range t.Entries {
		if e.Value.Kind != KindTable {
			return true
		}
	}
	return false
}

func encodeValue(b *bytes.Buffer, v *Value) {
	switch v.Kind {
	case KindString:
		b.WriteString(Quote(v.Str))
	case KindInteger:
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case KindBool:
		b.WriteString(strconv.FormatBool(v.Bool))
	case KindArray:
		b.WriteByte('[')
		for i, e := range v.Array {
			if i > 0 {
				b.WriteString(", ")
			}
			encodeValue(b, e)
		}
		b.WriteByte(']')
	}
}

// Quote returns s as a TOML basic string, escaping quotes, backslashes and
// the control characters TOML forbids raw.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else if r == utf8.RuneError {
				b.WriteString(`\uFFFD`)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
