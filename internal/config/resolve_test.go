package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestResolveReceiver(t *testing.T) {
	dir := t.TempDir()
	existing := writeConfig(t, "[server]\nlisten = \"127.0.0.1:9999\"\n")
	absent := filepath.Join(dir, "absent.toml")
	custom := DefaultReceiver()
	custom.Server.Listen = "127.0.0.1:9999"
	tests := []struct {
		name        string
		flag        string
		defaultPath string
		want        Receiver
		wantUsed    string
		wantMissing bool
	}{
		{"no flag, no default file: built-in defaults", "", absent, DefaultReceiver(), "", false},
		{"no flag, default file present", "", existing, custom, existing, false},
		{"flag names a file", existing, absent, custom, existing, false},
		{"flag names a missing file", absent, existing, Receiver{}, absent, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, used, err := resolveReceiver(tt.flag, tt.defaultPath)
			if tt.wantMissing {
				if !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("got err %v, want os.ErrNotExist", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if used != tt.wantUsed {
				t.Errorf("used %q, want %q", used, tt.wantUsed)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestResolveReceiverBadDefaultFile(t *testing.T) {
	bad := writeConfig(t, "[server]\nbogus = 1\n")
	_, used, err := resolveReceiver("", bad)
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Key != "server.bogus" {
		t.Fatalf("got %v, want the default file's error", err)
	}
	if used != bad {
		t.Errorf("used %q, want %q", used, bad)
	}
}

func TestResolveLabHost(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent.toml")
	withID := writeConfig(t, "host_id = \"lab9\"\n")
	withoutID := writeConfig(t, "[shipper]\nsettle_s = 1\n")
	tests := []struct {
		name      string
		flag      string
		def       string
		hostname  string
		wantHost  string
		wantUsed  string
		wantError bool
	}{
		{"defaults take the hostname", "", absent, "lab1", "lab1", "", false},
		{"file host_id wins", "", withID, "lab1", "lab9", withID, false},
		{"file without host_id keeps the hostname", withoutID, absent, "lab1", "lab1", withoutID, false},
		{"unusable hostname without host_id", "", absent, "", "", "", true},
		{"unusable hostname, file without host_id", withoutID, absent, "", "", withoutID, true},
		{"unusable hostname, file sets host_id", withID, absent, "", "lab9", withID, false},
		{"missing flag file", absent, withID, "lab1", "", absent, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, used, err := resolveLabHost(tt.flag, tt.def, tt.hostname)
			if (err != nil) != tt.wantError {
				t.Fatalf("err = %v, want error %v", err, tt.wantError)
			}
			var cerr *Error
			if err != nil && !errors.As(err, &cerr) {
				t.Errorf("got %T, want *config.Error", err)
			}
			if got.HostID != tt.wantHost || used != tt.wantUsed {
				t.Errorf("host %q used %q, want %q and %q", got.HostID, used, tt.wantHost, tt.wantUsed)
			}
		})
	}
}

func TestResolveLabHostUsesHostname(t *testing.T) {
	// The real default path may exist on a lab host; only check the
	// fallback when it does not.
	if _, err := os.Stat(LabHostPath); err == nil {
		t.Skipf("%s exists on this machine", LabHostPath)
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	want := HostIDFromHostname(hostname)
	if want == "" {
		t.Skipf("hostname %q is not usable as a host id", hostname)
	}
	got, used, err := ResolveLabHost("")
	if err != nil {
		t.Fatal(err)
	}
	if got.HostID != want || used != "" {
		t.Errorf("host %q used %q, want %q and \"\"", got.HostID, used, want)
	}
}

func TestHostIDFromHostname(t *testing.T) {
	tests := []struct {
		name     string
		hostname string
		want     string
	}{
		{"plain", "lab1", "lab1"},
		{"fqdn kept", "lab1.example.org", "lab1.example.org"},
		{"invalid rest dropped", "lab1.bad_domain!", "lab1"},
		{"too long keeps first label", "lab2." + strings.Repeat("a", 70), "lab2"},
		{"unusable", "-x", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HostIDFromHostname(tt.hostname); got != tt.want {
				t.Errorf("HostIDFromHostname(%q) = %q, want %q", tt.hostname, got, tt.want)
			}
		})
	}
}

// The gate's default remediation is the one line SPEC §7 names: a release
// install has no git checkout to pull, and `cis490-shipper update` brings
// the checkout and the release up to date.
func TestDefaultRemediationIsTheUpdateCommand(t *testing.T) {
	if got, want := DefaultRemediation, "sudo cis490-shipper update"; got != want {
		t.Errorf("DefaultRemediation = %q, want %q", got, want)
	}
	if got := DefaultReceiver().VersionGate.Remediation; got != DefaultRemediation {
		t.Errorf("the default config's remediation = %q", got)
	}
}
