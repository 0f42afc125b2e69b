package toml

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives Encode: parse, encode, parse gives an equal tree, and encoding
// that tree again gives the same bytes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"a = 1\n",
		"[server]\nlisten = \"127.0.0.1:8490\" # c\nmax = 4_294_967_296\n",
		"[auth.hosts]\nlab1 = '/etc/cis490/lab1.token'\r\n",
		"x = [\n  \"a\\u00e9\", # c\n  'b',\n]\n[a.b]\n[a]\nk = -9223372036854775808\n",
		"s = \"\\b\\t\\n\\f\\r\\\"\\\\\\U0001F600\"\n",
	} {
		f.Add([]byte(s))
	}
	// The toml-test inputs are good seeds when present.
	if dir, err := testDataDir(); err == nil {
		files, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*.toml"))
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := Parse(data)
		if err != nil {
			return
		}
		enc := Encode(first)
		second, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of encoded tree failed: %v\ninput: %q\nencoded: %q", err, data, enc)
		}
		if !reflect.DeepEqual(tagged(first), tagged(second)) {
			t.Fatalf("round trip changed the tree\ninput: %q\nencoded: %q", data, enc)
		}
		if again := Encode(second); string(again) != string(enc) {
			t.Fatalf("encoding not stable\nfirst: %q\nsecond: %q", enc, again)
		}
	})
}
