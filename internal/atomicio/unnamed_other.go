//go:build !linux

package atomicio

import (
	"errors"
	"os"
)

var errNoUnnamed = errors.New("unnamed temp files need linux")

// OpenUnnamed fails where O_TMPFILE does not exist; callers then use named
// temp files.
func OpenUnnamed(dir string) (*os.File, error) { return nil, errNoUnnamed }

// LinkUnnamed fails where O_TMPFILE does not exist.
func LinkUnnamed(f *os.File, dst string) error { return errNoUnnamed }
