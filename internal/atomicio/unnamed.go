package atomicio

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
)

// ProbeUnnamed reports whether unnamed temp files can be created in dir and
// linked by an unprivileged process (it needs /proc/self/fd).
func ProbeUnnamed(dir string) bool {
	f, err := OpenUnnamed(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	var rnd [8]byte
	rand.Read(rnd[:])
	name := filepath.Join(dir, ".probe-"+hex.EncodeToString(rnd[:]))
	if err := LinkUnnamed(f, name); err != nil {
		return false
	}
	os.Remove(name)
	return true
}
