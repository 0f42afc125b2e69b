package toml

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// tagged converts a tree to toml-test's tagged JSON shape: tables are maps,
// arrays are slices, scalars are {"type","value"} maps of strings.
func tagged(t *Table) map[string]any {
	m := make(map[string]any, len(t.Entries))
	for _, e := range t.Entries {
		m[e.Key] = taggedValue(e.Value)
	}
	return m
}

func taggedValue(v *Value) any {
	switch v.Kind {
	case KindString:
		return map[string]any{"type": "string", "value": v.Str}
	case KindInteger:
		return map[string]any{"type": "integer", "value": strconv.FormatInt(v.Int, 10)}
	case KindBool:
		return map[string]any{"type": "bool", "value": strconv.FormatBool(v.Bool)}
	case KindArray:
		a := make([]any, len(v.Array))
		for i, e := range v.Array {
			a[i] = taggedValue(e)
		}
		return a
	case KindTable:
		return tagged(v.Table)
	}
	return nil
}

func mustParse(tb testing.TB, src string) *Table {
	tb.Helper()
	t, err := Parse([]byte(src))
	if err != nil {
		tb.Fatalf("Parse(%q): %v", src, err)
	}
	return t
}

func str(s string) map[string]any { return map[string]any{"type": "string", "value": s} }
func integer(n int64) map[string]any {
	return map[string]any{"type": "integer", "value": strconv.FormatInt(n, 10)}
}
func boolean(b bool) map[string]any {
	return map[string]any{"type": "bool", "value": strconv.FormatBool(b)}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]any
	}{
		{"empty", "", map[string]any{}},
		{"comment only", "# hi\n", map[string]any{}},
		{"bom", "\xef\xbb\xbfa = 1\n", map[string]any{"a": integer(1)}},
		{"crlf", "a = 1\r\n[t]\r\nb = 'x'\r\n", map[string]any{"a": integer(1), "t": map[string]any{"b": str("x")}}},
		{"no final newline", "a = true", map[string]any{"a": boolean(true)}},
		{"bools", "t = true\nf = false", map[string]any{"t": boolean(true), "f": boolean(false)}},
		{"ints", "a = 0\nb = -0\nc = +17\nd = 1_000\ne = -9_223_372_036_854_775_808\nf = 9223372036854775807",
			map[string]any{"a": integer(0), "b": integer(0), "c": integer(17), "d": integer(1000),
				"e": integer(-9223372036854775808), "f": integer(9223372036854775807)}},
		{"basic escapes", `s = "a\"b\\c\td\n\b\f\r\u00e9\U0001F600"`, map[string]any{"s": str("a\"b\\c\td\n\b\f\ré😀")}},
		{"literal keeps backslashes", `s = 'C:\x\y'`, map[string]any{"s": str(`C:\x\y`)}},
		{"hash in string", `s = "a # b" # c`, map[string]any{"s": str("a # b")}},
		{"tab in strings", "s = \"a\tb\"\nl = 'a\tb'", map[string]any{"s": str("a\tb"), "l": str("a\tb")}},
		{"empty strings", `a = ""` + "\n" + `b = ''`, map[string]any{"a": str(""), "b": str("")}},
		{"bare key chars", "A-b_9 = 1\n1234 = 2", map[string]any{"A-b_9": integer(1), "1234": integer(2)}},
		{"string array multi-line", "a = [\n  \"x\", # one\n  'y',\n  # alone\n]\n",
			map[string]any{"a": []any{str("x"), str("y")}}},
		{"int array", "a = [1,2 , -3]", map[string]any{"a": []any{integer(1), integer(2), integer(-3)}}},
		{"empty array", "a = [ ]", map[string]any{"a": []any{}}},
		{"nested headers", "[a.b]\nx = 1\n[a]\ny = 2\n[ c . d ]",
			map[string]any{"a": map[string]any{"b": map[string]any{"x": integer(1)}, "y": integer(2)},
				"c": map[string]any{"d": map[string]any{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tagged(mustParse(t, tt.src))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		line    int
		col     int
		key     string
		msgPart string
	}{
		{"float", "a = 1.5", 1, 5, "a", "floats"},
		{"exponent", "a = 1e5", 1, 5, "a", "floats"},
		{"inf", "a = inf", 1, 5, "a", "floats"},
		{"datetime", "a = 1979-05-27T07:32:00Z", 1, 5, "a", "dates"},
		{"local time", "a = 07:32:00", 1, 5, "a", "dates"},
		{"hex", "a = 0xff", 1, 5, "a", "decimal"},
		{"leading zero", "a = 012", 1, 5, "a", "leading zeros"},
		{"double underscore", "a = 1__0", 1, 5, "a", "'_'"},
		{"trailing underscore", "a = 10_", 1, 5, "a", "'_'"},
		{"leading underscore", "a = _10", 1, 5, "a", "quotes"},
		{"too big", "a = 9223372036854775808", 1, 5, "a", "out of range"},
		{"too small", "a = -9223372036854775809", 1, 5, "a", "out of range"},
		{"bare word", "a = hello", 1, 5, "a", "quotes"},
		{"inline table", "[t]\na = {x = 1}", 2, 5, "t.a", "inline tables"},
		{"array of tables", "[[t]]", 1, 1, "", "arrays of tables"},
		{"quoted key", `"a" = 1`, 1, 1, "", "quoted keys"},
		{"dotted key", "a.b = 1", 1, 2, "a.b", "dotted keys"},
		{"dotted key in a table, spaced", "[t]\na . b.c = 1", 2, 3, "t.a.b.c", "dotted keys"},
		{"multi-line basic", `a = """x"""`, 1, 5, "a", "multi-line"},
		{"multi-line literal", `a = '''x'''`, 1, 5, "a", "multi-line"},
		{"nested array", "a = [[1]]", 1, 6, "a", "nested arrays"},
		{"mixed array", "a = [1, 'x']", 1, 9, "a", "mixed"},
		{"bool array", "a = [true]", 1, 6, "a", "only strings or integers"},
		{"unterminated array", "a = [1,\n", 2, 1, "a", "unterminated"},
		{"missing comma", "a = [1 2]", 1, 8, "a", "expected ','"},
		{"leading comma", "a = [,]", 1, 6, "a", "','"},
		{"duplicate key", "a = 1\na = 2", 2, 1, "a", "duplicate key"},
		{"key then table", "[t]\nb = 1\n[t.b]", 3, 1, "t.b", "already defined as a value"},
		{"table then key", "[t.b]\n[t]\nb = 1", 3, 1, "t.b", "already defined as a table"},
		{"table twice", "[t]\n[t]", 2, 1, "t", "defined twice"},
		{"subtable twice", "[t.u]\n[t.u]", 2, 1, "t.u", "defined twice"},
		{"invalid escape", `a = "\x41"`, 1, 6, "a", `invalid escape \x`},
		{"short unicode escape", `a = "\u12"`, 1, 6, "a", "4 hex digits"},
		{"surrogate escape", `a = "\uD800"`, 1, 6, "a", "scalar"},
		{"too large escape", `a = "\UFFFFFFFF"`, 1, 6, "a", "scalar"},
		{"control in string", "a = \"x\x01\"", 1, 7, "a", "control character"},
		{"control in literal", "a = 'x\x7f'", 1, 7, "a", "control character"},
		{"control in comment", "# x\x00y", 1, 4, "", "control character"},
		{"newline in string", "a = \"x\ny\"", 1, 5, "a", "unterminated"},
		{"bare cr", "a = 1\rb = 2", 1, 6, "", "carriage return"},
		{"invalid utf8", "a = 'x'\n# \xff", 2, 3, "", "UTF-8"},
		{"text after value", "a = 1 b", 1, 7, "", "expected end of line"},
		{"missing value", "a =\n", 1, 4, "a", "expected a value"},
		{"missing equals", "a 1", 1, 3, "a", "expected '='"},
		{"empty header", "[]", 1, 2, "", "expected a key"},
		{"column counts runes", "a = 'é' x", 1, 9, "", "expected end of line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) = %v, want *Error", tt.src, err)
			}
			if perr.Line != tt.line || perr.Col != tt.col || perr.Key != tt.key {
				t.Errorf("at %d:%d key %q, want %d:%d key %q (%v)", perr.Line, perr.Col, perr.Key, tt.line, tt.col, tt.key, err)
			}
			if !strings.Contains(perr.Msg, tt.msgPart) {
				t.Errorf("message %q does not contain %q", perr.Msg, tt.msgPart)
			}
		})
	}
}

func TestPositions(t *testing.T) {
	root := mustParse(t, "top = 1\n\n[srv]\n  listen = \"x\"\n  ports = [\n    1,\n    2]\n")
	tests := []struct {
		name string
		got  Pos
		want Pos
	}{
		{"key", root.Get("top").Pos, Pos{1, 1}},
		{"value", root.Get("top").Value.Pos, Pos{1, 7}},
		{"table", root.Get("srv").Value.Table.Pos, Pos{3, 1}},
		{"indented key", root.Get("srv").Value.Table.Get("listen").Pos, Pos{4, 3}},
		{"string value", root.Get("srv").Value.Table.Get("listen").Value.Pos, Pos{4, 12}},
		{"array element", root.Get("srv").Value.Table.Get("ports").Value.Array[1].Pos, Pos{7, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestTableOrderAndPaths(t *testing.T) {
	root := mustParse(t, "a = 1\n[x.y]\n[x]\nb = 2\n")
	var keys []string
	for _, e := range root.Entries {
		keys = append(keys, e.Key)
	}
	if got, want := strings.Join(keys, ","), "a,x"; got != want {
		t.Errorf("root keys %q, want %q", got, want)
	}
	x := root.Get("x").Value.Table
	if x.Implicit {
		t.Error("[x] defined explicitly but still Implicit")
	}
	if got, want := x.Get("y").Value.Table.Path, "x.y"; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
	if got, want := x.KeyPath("b"), "x.b"; got != want {
		t.Errorf("KeyPath %q, want %q", got, want)
	}
	if root.Get("missing") != nil {
		t.Error("Get of a missing key returned an entry")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"with key", &Error{Line: 3, Col: 1, Key: "server.listne", Msg: "unknown key"}, `3:1: key "server.listne": unknown key`},
		{"without key", &Error{Line: 1, Col: 2, Msg: "invalid UTF-8"}, `1:2: invalid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	src := `b = "x\"\\\u007F"` + "\n[a.b]\nn = -5\n[a]\nl = [\"\\u0001\", 'é']\n[e]\n"
	first := mustParse(t, src)
	enc := Encode(first)
	second := mustParse(t, string(enc))
	if !reflect.DeepEqual(tagged(first), tagged(second)) {
		t.Errorf("round trip changed the tree:\n%s", enc)
	}
	if again := Encode(second); string(again) != string(enc) {
		t.Errorf("encoding not stable:\n%s\nthen\n%s", enc, again)
	}
}
