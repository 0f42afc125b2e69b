package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"cis490/internal/index"
	"cis490/receiver/datadir"
	"cis490/receiver/replicalog"
)

// remoteSet holds the episodes whose local copy was removed after the
// object store confirmed them (SPEC §17 local_keep_days): their rows stay in
// the index, so Lookup still answers for them.
type remoteSet struct {
	mu sync.Mutex
	m  map[string]remoteEntry
}

type remoteEntry struct {
	sum   [32]byte
	bytes int64
}

func (r *remoteSet) get(id string) (Stored, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[id]
	if !ok {
		return Stored{}, false
	}
	return Stored{SHA256: hex.EncodeToString(e.sum[:]), Bytes: e.bytes}, true
}

func (r *remoteSet) put(id string, st Stored) {
	var e remoteEntry
	hex.Decode(e.sum[:], []byte(st.SHA256))
	e.bytes = st.Bytes
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[string]remoteEntry)
	}
	r.m[id] = e
	r.mu.Unlock()
}

func (r *remoteSet) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// remoteOnly returns the index rows of dataDir whose store/ file is absent
// and whose episode replica.jsonl records with the same digest.
func remoteOnly(dataDir string) (map[string]Stored, error) {
	replicated, err := replicalog.Set(dataDir)
	if err != nil || len(replicated) == 0 {
		return nil, err
	}
	l := datadir.New(dataDir)
	out := map[string]Stored{}
	_, _, err = index.ReadFile(l.Index(), func(r index.Row) {
		if replicated[r.ID] != r.SHA256 {
			return
		}
		if _, ok := out[r.ID]; ok {
			return
		}
		if _, err := os.Lstat(l.Stored(r.ID)); errors.Is(err, fs.ErrNotExist) {
			out[r.ID] = Stored{SHA256: r.SHA256, Bytes: r.Bytes}
		}
	})
	return out, err
}

// RemoteOnly returns how many indexed episodes live only in the object store.
func (s *Store) RemoteOnly() int { return s.remote.len() }

// Tier removes the local copy of id once the object store holds it (SPEC
// §17 local_keep_days). The caller must have recorded the store's
// confirmation of sha in replica.jsonl first. Nothing is removed unless id
// is stored here with exactly that digest; removed reports whether the file
// went. The row stays, and Lookup keeps answering for id.
func (s *Store) Tier(ctx context.Context, id, sha string) (removed bool, err error) {
	unlock, err := s.LockID(ctx, id)
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, err := os.Lstat(s.Path(id)); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	st, found, err := s.Lookup(id)
	if err != nil || !found || st.SHA256 != sha {
		return false, err
	}
	if err := os.Remove(s.Path(id)); err != nil {
		return false, fmt.Errorf("tier %s: %w", id, err)
	}
	s.remote.put(id, st)
	// The fsync that makes the removal durable also retires the spares
	// linked before it: no upload file in tmp/ keeps the bytes tiered away.
	if err := s.spares.retireLinked(true); err != nil {
		return true, fmt.Errorf("tier %s: fsync store dir: %w", id, err)
	}
	return true, nil
}
