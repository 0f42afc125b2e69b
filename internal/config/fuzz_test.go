package config

import (
	"errors"
	"os"
	"reflect"
	"testing"

	"cis490/internal/toml"
)

// FuzzDecode checks that the loaders never panic, report every failure as
// an *Error naming the file, and read the same config back from a
// re-encoded document.
func FuzzDecode(f *testing.F) {
	for _, p := range []string{receiverExample, labHostExample} {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("host_id = \"lab1\"\n[shipper]\nzstd_level = 22\n[doctor]\nsince = \"1h\"\n"))
	f.Add([]byte("[auth.hosts]\nlab1 = \"/t\"\n[fleet_health]\nexpected_hosts = [\"a\", \"b\"]\n"))
	f.Add([]byte("[server]\nlisten = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz.toml"
		rx, rxErr := decodeReceiver(file, data)
		lh, lhErr := decodeLabHost(file, data, "lab1")
		for _, err := range []error{rxErr, lhErr} {
			var cerr *Error
			if err != nil && (!errors.As(err, &cerr) || cerr.File != file) {
				t.Fatalf("error %v is not a *config.Error naming %s", err, file)
			}
		}
		if rxErr != nil && lhErr != nil {
			return
		}
		root, err := toml.Parse(data)
		if err != nil {
			t.Fatalf("loader accepted what the parser rejects: %v", err)
		}
		again := toml.Encode(root)
		if rxErr == nil {
			if rx2, err := decodeReceiver(file, again); err != nil || !reflect.DeepEqual(rx, rx2) {
				t.Fatalf("receiver config changed after re-encoding (%v):\n%s", err, again)
			}
		}
		if lhErr == nil {
			if lh2, err := decodeLabHost(file, again, "lab1"); err != nil || !reflect.DeepEqual(lh, lh2) {
				t.Fatalf("lab host config changed after re-encoding (%v):\n%s", err, again)
			}
		}
	})
}
