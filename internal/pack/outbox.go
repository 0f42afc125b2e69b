package pack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"cis490/internal/atomicio"
	"cis490/internal/wire"
)

// PartialSuffix ends the name of a tarball being written in the outbox
// (SPEC §3 outbox/*.partial).
const PartialSuffix = ".partial"

// ToOutbox packs episodesDir/<id> into outboxDir/<id>.tar.zst (mode 0640:
// episodes may hold data not meant for every local user). It writes
// <id>.tar.zst.partial (replacing a stale one) and commits it with
// atomicio (fsync, rename, fsync of the outbox), so the final name only
// ever holds a complete tarball. On error the partial is removed; when the
// episode vanishes (ErrVanished) no tarball is left either, keeping
// outbox/<id>.tar.zst ⇒ episodes/<id>/ (SPEC §3).
func ToOutbox(ctx context.Context, episodesDir, outboxDir, id string, opts Options) (path string, res Result, err error) {
	if !wire.ValidID(id) {
		return "", Result{}, fmt.Errorf("pack %q: invalid episode id", id)
	}
	src := filepath.Join(episodesDir, id)
	path = filepath.Join(outboxDir, id+wire.EpisodeSuffix)
	partial := path + PartialSuffix

	f, err := atomicio.Create(path, partial, 0o640)
	if err != nil {
		return "", Result{}, fmt.Errorf("pack %s: %w", id, err)
	}
	res, err = Write(ctx, f, src, id, opts)
	if err != nil {
		f.Abort()
		return "", Result{}, err
	}
	if err := f.Commit(); err != nil {
		return "", Result{}, fmt.Errorf("pack %s: %w", id, err)
	}
	// Write checked the episode at its end; a move between that check and
	// the rename would leave an orphan, so look once more. What slips past
	// this check is swept by the next scan pass.
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		os.Remove(path)
		atomicio.SyncDir(outboxDir)
		return "", Result{}, fmt.Errorf("pack %s: %w", id, ErrVanished)
	}
	return path, res, nil
}
