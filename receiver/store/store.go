// Package store keeps the receiver's data directory (SPEC §5): verified
// tarballs under store/, the append-only index, and the uploads in progress
// under tmp/. It owns the durability rule of SPEC §4.2: a stored episode's
// bytes and index row are fsynced before Ingest returns. The names in the
// data directory are receiver/datadir's, the rows internal/index's.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
)

// Errors callers branch on.
var (
	// ErrSHAMismatch means the body's digest differs from the announced one.
	ErrSHAMismatch = errors.New("sha256 mismatch")
	// ErrAborted means the body ended early, stalled or the client left.
	ErrAborted = errors.New("upload aborted")
	// ErrExists means the id was stored by someone else meanwhile.
	ErrExists = errors.New("already stored")
	// ErrLocked means another process holds the data directory.
	ErrLocked = errors.New("data directory in use by another receiver")
)

// MismatchError carries the digest the receiver computed.
type MismatchError struct{ Computed string }

func (e *MismatchError) Error() string { return "sha256 mismatch: computed " + e.Computed }

// Unwrap lets errors.Is match ErrSHAMismatch.
func (e *MismatchError) Unwrap() error { return ErrSHAMismatch }

// Meta is what an upload tells about itself besides its bytes.
type Meta struct {
	Host          string
	Commit        string
	SchemaVersion string
}

// Stored describes a tarball in store/.
type Stored struct {
	SHA256 string
	Bytes  int64
}

// Store is an open data directory.
type Store struct {
	dir      string
	layout   datadir.Layout
	storeDir string
	tmpDir   string
	log      *slog.Logger
	now      func() time.Time

	index   *jsonl.Appender
	rows    *rowIndex
	dirFile *os.File
	dirSync *atomicio.GroupSyncer
	tmpFile *os.File
	// spares hands out the files uploads are written into (spares.go).
	spares *spares

	locks idLocks
	// remote holds the ids whose local copy was tiered away (tier.go).
	remote remoteSet
	// onStored, if set, hears of every stored episode (see Options).
	onStored func(index.Row)
}

// Options tune Open.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// OnStored, if set, is called with every row Ingest appended, after it
	// is durable and before Ingest returns; it must not block (the
	// replicator only takes note).
	OnStored func(index.Row)
}

// Open prepares dataDir for serving: it creates the directories, then runs
// the start-up recovery of SPEC §5.1 (truncate a torn index line, empty tmp/,
// index store files that have no row). The caller must hold the data
// directory's lock (see Lock).
func Open(dataDir string, opts Options) (*Store, RecoveryReport, error) {
	l := datadir.New(dataDir)
	s := &Store{
		dir:      dataDir,
		layout:   l,
		storeDir: l.Store(),
		tmpDir:   l.Tmp(),
		log:      opts.Logger,
		now:      opts.Now,
		onStored: opts.OnStored,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	var rep RecoveryReport
	for _, d := range []string{dataDir, s.storeDir, s.tmpDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, rep, fmt.Errorf("open store: %w", err)
		}
	}
	var err error
	if rep.TornBytes, err = jsonl.RepairTorn(s.IndexPath()); err != nil {
		return nil, rep, fmt.Errorf("repair index: %w", err)
	}
	if rep.Relinked, err = recoverSpares(l); err != nil {
		return nil, rep, fmt.Errorf("recover uploads from tmp: %w", err)
	}
	for _, id := range rep.Relinked {
		s.log.Warn("linked an episode back into store/ from its upload file after a crash", "id", id)
	}
	// Idle spares are not worth a word; what held an upload is.
	left, err := TmpLeftovers(dataDir)
	if err != nil {
		return nil, rep, fmt.Errorf("empty tmp: %w", err)
	}
	rep.TmpRemoved = len(left)
	if _, err = emptyDir(s.tmpDir); err != nil {
		return nil, rep, fmt.Errorf("empty tmp: %w", err)
	}
	if rep.HealthTmpRemoved, err = removeTemps(s.layout.HostHealth()); err != nil {
		return nil, rep, fmt.Errorf("remove host-health temp files: %w", err)
	}
	if s.index, err = jsonl.OpenAppender(s.IndexPath()); err != nil {
		return nil, rep, err
	}
	if s.rows, err = buildRowIndex(s.IndexPath()); err != nil {
		s.index.Close()
		return nil, rep, err
	}
	if s.dirFile, err = os.Open(s.storeDir); err != nil {
		s.index.Close()
		s.rows.close()
		return nil, rep, fmt.Errorf("open store: %w", err)
	}
	s.dirSync = atomicio.NewGroupSyncer(s.dirFile)
	if s.tmpFile, err = os.Open(s.tmpDir); err != nil {
		s.index.Close()
		s.rows.close()
		s.dirFile.Close()
		return nil, rep, fmt.Errorf("open store: %w", err)
	}
	s.spares = openSpares(l, s.tmpFile, s.dirFile, s.log)
	appendRow := func(r index.Row) (int64, error) { return s.index.AppendAt(r) }
	rows, err := backfill(s.dir, appendRow, s.rows, false, s.now)
	if err != nil {
		s.Close()
		return nil, rep, fmt.Errorf("re-index store: %w", err)
	}
	s.rows.compact()
	rep.Reindexed = rows
	remote, err := remoteOnly(s.dir)
	if err != nil {
		s.Close()
		return nil, rep, fmt.Errorf("read replicated episodes: %w", err)
	}
	for id, st := range remote {
		s.remote.put(id, st)
	}
	return s, rep, nil
}

// RecoveryReport says what Open repaired.
type RecoveryReport struct {
	TornBytes  int64
	TmpRemoved int
	// HealthTmpRemoved counts temp files of host-health writes a crash
	// interrupted (SPEC §4.5).
	HealthTmpRemoved int
	// Relinked names the episodes whose store/ name a crash lost after
	// their row was durable, linked again from their upload file.
	Relinked  []string
	Reindexed []index.Row
}

// Close retires the upload files and releases the index and directory
// handles. No Ingest may run during or after it.
func (s *Store) Close() error {
	err := s.spares.close()
	if cerr := s.index.Close(); err == nil {
		err = cerr
	}
	if cerr := s.rows.close(); err == nil {
		err = cerr
	}
	if cerr := s.dirFile.Close(); err == nil {
		err = cerr
	}
	if cerr := s.tmpFile.Close(); err == nil {
		err = cerr
	}
	return err
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Layout returns the layout of the data directory.
func (s *Store) Layout() datadir.Layout { return s.layout }

// IndexPath returns the path of index.jsonl.
func (s *Store) IndexPath() string { return s.layout.Index() }

// Path returns where the tarball of id lives once stored.
func (s *Store) Path(id string) string { return s.layout.Stored(id) }

// LockID serialises every decision about one id: the duplicate checks, the
// ingest and the index append happen under it, so concurrent PUTs of one id
// store one file and one row. It waits until the id is free or ctx ends.
func (s *Store) LockID(ctx context.Context, id string) (unlock func(), err error) {
	return s.locks.lock(ctx, id)
}

// Lookup reports whether id is stored and, if so, its digest and size. An
// id is stored when its index row is durable and its file is in store/; a
// file without a row (an upload whose append failed, not yet removed) is
// not. Lookup takes no lock and reads no more than the id's row, so it is
// cheap at any index size and never waits behind an upload in flight.
func (s *Store) Lookup(id string) (Stored, bool, error) {
	row, found, err := s.rows.find(id)
	if err != nil {
		return Stored{}, false, fmt.Errorf("lookup %s: %w", id, err)
	}
	if !found {
		return Stored{}, false, nil
	}
	if _, err := os.Stat(s.Path(id)); errors.Is(err, fs.ErrNotExist) {
		// A local copy removed after the object store confirmed it
		// (tier.go) is still stored.
		if _, ok := s.remote.get(id); ok {
			return Stored{SHA256: row.SHA256, Bytes: row.Bytes}, true, nil
		}
		return Stored{}, false, nil
	} else if err != nil {
		return Stored{}, false, fmt.Errorf("lookup %s: %w", id, err)
	}
	return Stored{SHA256: row.SHA256, Bytes: row.Bytes}, true, nil
}

// findRow scans the index backward for the last row of id.
func findRow(path, id string) (index.Row, bool, error) {
	var row index.Row
	found := false
	err := jsonl.ScanBackward(path, func(line []byte) error {
		if !index.MayHoldID(line, id) {
			return nil
		}
		r, err := index.Parse(line)
		if err != nil || r.ID != id {
			return nil
		}
		row, found = r, true
		return jsonl.ErrStop
	})
	return row, found, err
}

// Ingest streams body (exactly length bytes) into a spare upload file while
// hashing it, checks the digest against wantSHA, and on a match stores the
// file under store/ without replacing anything and appends the index row.
// It returns once the file, a durable name for it and the row are fsynced
// (spares.go says why the store/ name may follow). It must be called under
// LockID. progress, if not nil, is called after every chunk with the bytes
// received so far.
func (s *Store) Ingest(id string, body io.Reader, length int64, wantSHA string, meta Meta, progress func(int64)) (index.Row, error) {
	sp, sum, err := s.receive(body, length, wantSHA, progress)
	if err != nil {
		return index.Row{}, fmt.Errorf("ingest %s: %w", id, err)
	}
	row := index.Row{
		ID:            id,
		Host:          meta.Host,
		SHA256:        sum,
		Bytes:         length,
		ReceivedAt:    wire.FormatTime(s.now()),
		Commit:        meta.Commit,
		SchemaVersion: meta.SchemaVersion,
		Source:        index.SourceReceiver,
	}
	line, err := json.Marshal(row)
	if err != nil {
		sp.discard()
		return index.Row{}, fmt.Errorf("ingest %s: %w", id, err)
	}
	if err := s.commit(sp, id, append(line, '\n')); err != nil {
		return index.Row{}, fmt.Errorf("ingest %s: %w", id, err)
	}
	if s.onStored != nil {
		s.onStored(row)
	}
	return row, nil
}

// receive streams body (exactly length bytes) into a spare while hashing
// it and returns the spare fsynced once the digest matches wantSHA; on any
// failure the spare is gone.
func (s *Store) receive(body io.Reader, length int64, wantSHA string, progress func(int64)) (*spare, string, error) {
	sp, err := s.spares.take()
	if err != nil {
		return nil, "", err
	}
	var w io.Writer = sp // a small body: sp.writeNew
	if !smallBody(length) {
		if err := sp.buffered(); err != nil {
			sp.discard()
			return nil, "", fmt.Errorf("spare: %w", err)
		}
		w = sp.File // written chunk by chunk, with early writeback
	}
	n, digest, err := copyHashing(w, io.LimitReader(body, length), length, progress)
	var sum string
	switch {
	case err != nil:
		digest()
		err = fmt.Errorf("%w: %v", ErrAborted, err)
	case n != length:
		digest()
		err = fmt.Errorf("%w: body ended after %d of %d bytes", ErrAborted, n, length)
	default:
		// The fsync runs while the last bytes are hashed; a body that then
		// turns out wrong has cost one fsync of a spare that goes anyway.
		serr := sp.Sync()
		if sum = digest(); sum != wantSHA {
			err = &MismatchError{Computed: sum}
		} else if serr != nil {
			err = fmt.Errorf("fsync: %w", serr)
		} else if err = sp.Close(); err != nil {
			err = fmt.Errorf("close: %w", err)
		}
	}
	if err != nil {
		sp.discard()
		return nil, "", err
	}
	return sp, sum, nil
}

// commit links the fsynced spare to store/<id>, never replacing a file
// (ErrExists), and appends line, the row, to the index, returning once it
// is durable. Concurrent commits share the index's fsyncs
// (jsonl.Appender); the row is announced before the link, so the next
// index group waits for it rather than leaving it for the group after. If
// the row cannot be made durable the file is taken back (unstore). It must
// be called under LockID.
func (s *Store) commit(sp *spare, id string, line []byte) error {
	kept := false
	defer func() {
		if !kept {
			sp.discard()
		}
	}()
	announced := s.index.Expect()
	defer announced.Cancel() // unless the line was queued
	err := sp.link(s.Path(id))
	if errors.Is(err, fs.ErrExist) {
		// Rarely an unindexed leftover, which gives way (removeOrphan).
		removed, rerr := s.removeOrphan(id)
		if rerr != nil {
			return rerr
		}
		if !removed {
			return ErrExists
		}
		if err = sp.link(s.Path(id)); errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
	}
	if err != nil {
		return err
	}
	off, err := s.index.AppendLineExpectedAt(line, announced)
	if err != nil {
		return s.unstore(id, err)
	}
	kept = true
	s.spares.retire(sp)
	s.rows.add(id, off)
	return nil
}

// unstore takes back the file of an upload whose row could not be made
// durable, so that nothing in store/ looks stored without its row (SPEC
// §4.2: the upload is answered 5xx and its retry stores it again, with its
// own host and commit). It returns cause, joined with any failure to remove
// the file; a file left behind is removed by the next ingest of its id
// (removeOrphan) or indexed at the next start.
func (s *Store) unstore(id string, cause error) error {
	if err := os.Remove(s.Path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errors.Join(cause, fmt.Errorf("remove the unindexed file: %w", err))
	}
	if err := s.dirSync.Sync(); err != nil {
		return errors.Join(cause, fmt.Errorf("fsync store dir after removing the unindexed file: %w", err))
	}
	s.log.Warn("upload not stored: its index row could not be written; file removed", "id", id, "error", cause)
	return cause
}

// removeOrphan removes store/<id> when it has no durable row: the leftover
// of an upload whose append failed and whose file could not be removed then.
// It must be called under LockID.
func (s *Store) removeOrphan(id string) (removed bool, err error) {
	_, found, err := s.rows.find(id)
	if err != nil || found {
		return false, err
	}
	if err := os.Remove(s.Path(id)); errors.Is(err, fs.ErrNotExist) {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("remove unindexed file: %w", err)
	}
	s.log.Warn("removed a stored file that had no index row before storing it again", "id", id)
	return true, s.dirSync.Sync()
}

// FreeBytes returns the bytes available to the receiver on the data
// directory's file system.
func (s *Store) FreeBytes() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", s.dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// removeTemps removes the temp files of interrupted atomic writes in dir (a
// missing dir has none) and returns how many there were.
func removeTemps(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if _, ok := atomicio.TempTarget(e.Name()); ok && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// emptyDir removes every entry of dir and returns how many there were.
func emptyDir(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return 0, err
		}
	}
	return len(entries), nil
}

// idLocks is a set of per-id mutexes that exist only while in use.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

type idLock struct {
	ch   chan struct{} // holds one token while locked
	refs int
}

func (l *idLocks) lock(ctx context.Context, id string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*idLock)
	}
	e := l.m[id]
	if e == nil {
		e = &idLock{ch: make(chan struct{}, 1)}
		l.m[id] = e
	}
	e.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
