package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cis490/internal/toml"
)

// The examples in etc/ document every key with its default (SPEC §11).
// These tests keep them from drifting: as shipped they must load to exactly
// the defaults, and with every commented-out key switched on they must
// still load and name every key the loader knows, and nothing else.
const (
	receiverExample = "../../etc/receiver.toml.example"
	labHostExample  = "../../etc/lab-host.toml.example"
)

func TestExamplesEqualDefaults(t *testing.T) {
	t.Run("receiver", func(t *testing.T) {
		got, err := LoadReceiver(receiverExample)
		if err != nil {
			t.Fatal(err)
		}
		if want := DefaultReceiver(); !reflect.DeepEqual(got, want) {
			t.Errorf("example differs from the defaults:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("lab host", func(t *testing.T) {
		got, err := LoadLabHost(labHostExample, "lab1")
		if err != nil {
			t.Fatal(err)
		}
		if want := DefaultLabHost("lab1"); !reflect.DeepEqual(got, want) {
			t.Errorf("example differs from the defaults:\n got %+v\nwant %+v", got, want)
		}
	})
}

// commentedSetting matches a commented-out key or table header, as opposed
// to a line of prose (which starts with a capital letter).
var commentedSetting = regexp.MustCompile(`(?m)^# ((?:[a-z0-9_-]+ = |\[).*)$`)

func TestExamplesDocumentEveryKey(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		schema *section
		load   func(path string) error
	}{
		{"receiver", receiverExample, receiverSchema(new(Receiver)), func(p string) error { _, err := LoadReceiver(p); return err }},
		{"lab host", labHostExample, labHostSchema(new(LabHost)), func(p string) error { _, err := LoadLabHost(p, "lab1"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			all := commentedSetting.ReplaceAllString(string(data), "$1")
			path := writeConfig(t, all)
			if err := tt.load(path); err != nil {
				t.Fatalf("example with every key switched on does not load: %v", err)
			}
			root, err := toml.Parse([]byte(all))
			if err != nil {
				t.Fatal(err)
			}
			got := documentedKeys(root, tt.schema)
			want := schemaKeys(tt.schema, "")
			if !slices.Equal(got, want) {
				t.Errorf("documented keys differ from the loader's:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// schemaKeys lists the dotted keys a schema accepts, "*" standing for the
// keys of a free-form table.
func schemaKeys(s *section, prefix string) []string {
	var keys []string
	if s.free != nil {
		keys = append(keys, prefix+"*")
	}
	for k := range s.keys {
		keys = append(keys, prefix+k)
	}
	for k, sub := range s.tables {
		keys = append(keys, schemaKeys(sub, prefix+k+".")...)
	}
	slices.Sort(keys)
	return keys
}

// documentedKeys lists the dotted keys set in a parsed example, in the
// same shape as schemaKeys.
func documentedKeys(t *toml.Table, s *section) []string {
	var keys []string
	for _, e := range t.Entries {
		switch {
		case s != nil && s.free != nil:
			keys = append(keys, strings.TrimSuffix(t.KeyPath(""), ".")+".*")
		case e.Value.Kind == toml.KindTable:
			var sub *section
			if s != nil {
				sub = s.tables[e.Key]
			}
			keys = append(keys, documentedKeys(e.Value.Table, sub)...)
		default:
			keys = append(keys, t.KeyPath(e.Key))
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
