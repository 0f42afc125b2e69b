// Package cmdline is the command-line scaffolding the three binaries share: the
// logger (key=value lines on stderr, no timestamp, errors under one key),
// strict flag parsing, and noticing --json before parsing so that even a
// usage error is one JSON document (SPEC §13). Each binary keeps its own
// flags, usage text and output; the shape is the same: a command parses
// with Parse and stops with its exit code when Parse says so.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// ErrorKey is the one log key under which every error is logged, as
// error=<value>. On the shipper's upload-outcome lines the value is the
// receiver's stable error code, which the doctor reads (SPEC §8).
const ErrorKey = "error"

// NewLogger logs key=value lines to w without a timestamp: journald adds
// its own.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// Parse parses args with fs and refuses positional arguments. It returns
// flag.ErrHelp for -h and --help, and any other error for a usage error.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w %q", ErrArgument, fs.Arg(0))
	}
	return nil
}

// ErrArgument is the error of Parse for a positional argument.
var ErrArgument = errors.New("unexpected argument")

// IsHelp reports whether a Parse error is a request for help (exit 0).
func IsHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }

// WantsJSON reports whether args ask for --json, read before parsing so a
// usage error anywhere on the line can still be answered in JSON.
func WantsJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "-json" || a == "--json=true" || a == "-json=true" {
			return true
		}
	}
	return false
}
