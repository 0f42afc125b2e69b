//go:build !linux

package store

import (
	"errors"
	"os"
)

var errNoUnnamed = errors.New("unnamed temp files need linux")

// openUnnamed fails where O_TMPFILE does not exist; uploads then use named
// temp files.
func openUnnamed(dir string) (*os.File, error) { return nil, errNoUnnamed }

// linkUnnamed fails where O_TMPFILE does not exist.
func linkUnnamed(f *os.File, dst string) error { return errNoUnnamed }
