package cmdline

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestNewLoggerHasNoTimestamp(t *testing.T) {
	var b bytes.Buffer
	NewLogger(&b).Error("pass failed", ErrorKey, errors.New("disk full"))
	if got := b.String(); strings.Contains(got, "time=") || !strings.Contains(got, `error="disk full"`) {
		t.Errorf("log line %q", got)
	}
}

func TestParse(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Bool("json", false, "")
		return fs
	}
	if err := Parse(newFS(), []string{"--json"}); err != nil {
		t.Errorf("good line: %v", err)
	}
	if err := Parse(newFS(), []string{"--json", "extra"}); err == nil || IsHelp(err) {
		t.Errorf("positional argument: %v", err)
	}
	if err := Parse(newFS(), []string{"--bogus"}); err == nil || IsHelp(err) {
		t.Errorf("unknown flag: %v", err)
	}
	if err := Parse(newFS(), []string{"-h"}); !IsHelp(err) {
		t.Errorf("-h: %v", err)
	}
}

func TestWantsJSON(t *testing.T) {
	for args, want := range map[string]bool{
		"--bogus --json":   true,
		"-json":            true,
		"--json=true":      true,
		"--json=false":     false,
		"--config f":       false,
		"-- --json":        false,
		"--now x --json=1": false,
	} {
		if got := WantsJSON(strings.Fields(args)); got != want {
			t.Errorf("WantsJSON(%q) = %v, want %v", args, got, want)
		}
	}
}
