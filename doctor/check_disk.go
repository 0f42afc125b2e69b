package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// diskCheck: free space on the file system of data_dir against [doctor]
// min_free_bytes.
type diskCheck struct{ h *host }

func (diskCheck) Name() string { return "disk" }

func (c diskCheck) Run(context.Context) Result {
	h := c.h
	if !h.configured() {
		return skipNoConfig
	}
	dir := h.cfg.Paths.DataDir
	free, err := h.env.FreeBytes(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return result(Skip, "", "data_dir %s does not exist", dir)
	}
	if err != nil {
		return result(Fail, "", "free space of %s: %v", dir, err)
	}
	min := h.cfg.Doctor.MinFreeBytes
	if int64(free) < min {
		return result(Fail, "sudo du -xsh "+dir+"/* | sort -h", "%s free on %s, under min_free_bytes %s", bytesIEC(free), dir, bytesIEC(uint64(min)))
	}
	return result(OK, "", "%s free on %s (minimum %s)", bytesIEC(free), dir, bytesIEC(uint64(min)))
}

// bytesIEC renders n as "1.5 GiB".
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
