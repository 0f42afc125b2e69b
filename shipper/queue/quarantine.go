package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"cis490/internal/queuedir"
)

// Local quarantine reasons (SPEC §13); receiver refusals use the receiver's
// error code instead.
const (
	ReasonBadID       = "bad-id"
	ReasonMissingMeta = "missing-meta"
	ReasonBadMeta     = "bad-meta"
	ReasonUnstamped   = "unstamped"
)

// quarantine moves episodes/<name> to quarantine/<name> (or a free name) with
// its reason. The reason is written inside the episode first and the
// directory renamed second: a crash in between leaves an episode holding a
// reason file in episodes/, which the next pass (finishQuarantine) moves on.
// Writing after the rename instead could leave a quarantine entry without a
// reason, which retention could not date.
func quarantine(d queuedir.Layout, name string, r queuedir.Reason) (string, error) {
	src := d.Episode(name)
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("quarantine %s: %w", name, ErrVanished)
	}
	if err := queuedir.WriteReason(src, r); err != nil {
		if _, serr := os.Lstat(src); errors.Is(serr, fs.ErrNotExist) {
			return "", fmt.Errorf("quarantine %s: %w", name, ErrVanished)
		}
		return "", fmt.Errorf("quarantine %s: %w", name, err)
	}
	dest, err := moveFree(src, d.Quarantine, name)
	if err != nil {
		return "", fmt.Errorf("quarantine %s: %w", name, err)
	}
	removeTarball(d, name)
	return dest, nil
}

// halfQuarantined reports whether episodes/<name> already holds a reason
// file: a quarantine interrupted between its two steps.
func halfQuarantined(d queuedir.Layout, name string) bool {
	_, err := os.Lstat(queuedir.ReasonPath(d.Episode(name)))
	return err == nil
}

// finishQuarantine completes an interrupted quarantine of episodes/<name>.
func finishQuarantine(d queuedir.Layout, name string) (string, error) {
	dest, err := moveFree(d.Episode(name), d.Quarantine, name)
	if err != nil {
		return "", fmt.Errorf("quarantine %s: %w", name, err)
	}
	removeTarball(d, name)
	return dest, nil
}

// removeTarball deletes outbox/<id>.tar.zst, keeping the outbox invariant
// after the episode left episodes/.
func removeTarball(d queuedir.Layout, id string) {
	os.Remove(d.Tarball(id))
}
