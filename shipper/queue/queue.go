// Package queue is the shipper's episode queue on a lab host (SPEC §3, §8):
// it finds ready episodes under data_dir, packs and uploads them one at a
// time, oldest first, and retires each to shipped/ or quarantine/ by the
// receiver's answer. Every move is a rename within data_dir, so an episode
// directory is always in exactly one of episodes/, shipped/, quarantine/.
// The names of those directories and of the reason file are
// internal/queuedir's.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"cis490/internal/config"
	"cis490/internal/pack"
	"cis490/internal/queuedir"
	"cis490/internal/transport"
	"cis490/internal/wire"
)

// Uploader is the receiver as the queue sees it; *transport.Client is one.
type Uploader interface {
	Upload(ctx context.Context, ep transport.Episode) (wire.EpisodeReply, error)
	Head(ctx context.Context, id string) (sha string, size int64, found bool, err error)
	URL() string
}

// PackFunc packs episodes/<id> into the outbox and returns the tarball's
// path and digest; progress is called as bytes are read.
type PackFunc func(ctx context.Context, id string, progress func(n int64)) (path string, res pack.Result, err error)

// Queue ships the episodes of one data_dir. Its fields are set before the
// first Pass; a Queue is used by one goroutine.
type Queue struct {
	Dirs queuedir.Layout
	Cfg  config.Shipper
	Up   Uploader
	Log  *slog.Logger
	// HeadFirst asks the receiver with HEAD before each upload; a tarball
	// already stored with the same sha256 retires without sending it.
	HeadFirst bool
	// Pack defaults to pack.ToOutbox at Cfg.ZstdLevel.
	Pack PackFunc
	// Progress, if set, hears every step of a pass: bytes packed, body bytes
	// sent, an upload awaiting its answer, an episode retired. The daemon's
	// watchdog is the one listener.
	Progress transport.Progress
	// Now and Rand default to time.Now and math/rand/v2.Float64.
	Now  func() time.Time
	Rand func() float64

	failures    int
	retryAt     time.Time // no upload before this instant (backoff)
	lastCleanup time.Time
	packed      map[string]packedTarball
	// stuck holds episodes whose move out of episodes/ failed (for example
	// a directory without write permission, which rename(2) needs to
	// update ".."). They are skipped until the process restarts, so a
	// refused episode is not re-sent every pass.
	stuck map[string]bool
}

// packedTarball remembers a tarball this process packed, so a transient
// failure does not cost a re-pack; a tarball left by an earlier run is never
// trusted and is packed again (packing is deterministic, so the upload is an
// idempotent duplicate of anything already sent).
type packedTarball struct {
	res   pack.Result
	size  int64
	mtime time.Time
}

// Result counts one pass's outcomes (the --once JSON of SPEC §13).
type Result struct {
	Shipped     int `json:"shipped"`
	Duplicates  int `json:"duplicates"`
	Quarantined int `json:"quarantined"`
	Transient   int `json:"transient"` // transient, 401/403 and local pack failures
	Pending     int `json:"pending"`   // episodes still in episodes/ after the pass
	// RetryIn is the backoff before the next upload attempt; 0 when the
	// pass met no transient failure.
	RetryIn time.Duration `json:"-"`
	// LastError is the last failure of the pass, for STATUS=.
	LastError string `json:"-"`
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

func (q *Queue) log() *slog.Logger {
	if q.Log != nil {
		return q.Log
	}
	return slog.Default()
}

func (q *Queue) progress() {
	if q.Progress != nil {
		q.Progress.Moved(0)
	}
}

// Pass runs one scan pass (SPEC §3, §8): sweep the outbox, clean up old
// shipped/quarantine entries when due, finish interrupted quarantines,
// quarantine bad ids, then ship ready episodes oldest first until the queue
// is empty or a transient failure calls for backoff. Only the caller's
// cancellation or an unreadable episodes/ is an error; an interrupted
// upload leaves only outbox files.
func (q *Queue) Pass(ctx context.Context) (Result, error) {
	var res Result
	if err := q.sweep(); err != nil {
		q.log().Error("outbox sweep failed", "error", err)
	}
	if q.cleanupDue() {
		q.cleanup(ctx)
	}
	l, err := list(q.Dirs)
	if err != nil {
		return res, err
	}
	cutoff := q.now().Add(-time.Duration(q.Cfg.SettleS) * time.Second)
	for _, name := range l.halfQ {
		if q.stuck[name] {
			continue
		}
		dest, err := finishQuarantine(q.Dirs, name)
		if err != nil {
			if !errors.Is(err, ErrVanished) {
				q.log().Error("finishing interrupted quarantine failed", "id", name, "error", err)
				q.markStuck(name)
			}
			continue
		}
		q.log().Warn("finished interrupted quarantine", "id", name, "quarantined_as", dest)
		res.Quarantined++
	}
	for _, name := range l.badIDs {
		if q.stuck[name] {
			continue
		}
		if ok, err := settled(filepath.Join(q.Dirs.Episodes, name), cutoff); !ok || err != nil {
			continue
		}
		q.quarantineLocal(name, ReasonBadID, fmt.Sprintf("directory name %q is not a valid episode id", name), &res)
	}
	res.Pending = l.pending
	if now := q.now(); now.Before(q.retryAt) {
		// Backing off: the pass still sweeps, repairs and counts, so new
		// episodes and bad ids are noticed every scan, but nothing is sent.
		res.RetryIn = q.retryAt.Sub(now).Round(time.Second)
		return res, nil
	}
	for _, c := range l.ready {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if q.stuck[c.id] {
			continue
		}
		ok, err := settled(filepath.Join(q.Dirs.Episodes, c.id), cutoff)
		if errors.Is(err, ErrVanished) {
			res.Pending--
			continue
		}
		if err != nil {
			q.log().Error("reading episode failed", "id", c.id, "error", err)
			res.Transient++
			res.LastError = err.Error()
			continue
		}
		if !ok {
			continue
		}
		q.progress()
		stop, err := q.ship(ctx, c.id, &res)
		if err != nil {
			return res, err
		}
		if stop {
			break
		}
	}
	return res, nil
}

// quarantineLocal quarantines an episode for a local reason (status 0).
func (q *Queue) quarantineLocal(name, reason, detail string, res *Result) {
	dest, err := quarantine(q.Dirs, name, queuedir.Reason{Error: reason, Detail: detail, At: wire.FormatTime(q.now())})
	if err != nil {
		if !errors.Is(err, ErrVanished) {
			q.log().Error("quarantine failed", "id", name, "error", err)
			q.markStuck(name)
		}
		return
	}
	q.log().Error("episode quarantined", "id", name, "error", reason, "detail", detail, "quarantined_as", dest)
	res.Quarantined++
}

// ship packs, uploads and retires one episode. stop asks the pass to end
// (backoff); err is the caller's cancellation.
func (q *Queue) ship(ctx context.Context, id string, res *Result) (stop bool, err error) {
	dir := filepath.Join(q.Dirs.Episodes, id)
	meta, _, _ := readMeta(dir)
	path, pk, err := q.packOnce(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		switch {
		case errors.Is(err, pack.ErrVanished) || errors.Is(err, ErrVanished):
			q.log().Info("episode moved away while packing", "id", id)
			res.Pending--
		case errors.Is(err, pack.ErrChanged):
			q.log().Info("episode changed while packing; will pack it again", "id", id)
		default:
			q.log().Error("pack failed", "id", id, "error", err)
			res.Transient++
			res.LastError = err.Error()
		}
		return false, nil
	}
	if q.HeadFirst {
		sha, _, found, herr := q.Up.Head(ctx, id)
		if herr == nil && found && sha == pk.SHA256 {
			q.log().Info(wire.LogShipDuplicate, "id", id, "status", 200, "sha256", pk.SHA256, "bytes", pk.Bytes, "via", "head")
			q.retire(id, res)
			res.Duplicates++
			q.failures = 0
			return false, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
	}
	reply, err := q.Up.Upload(ctx, transport.Episode{ID: id, Path: path, SHA256: pk.SHA256, Size: pk.Bytes,
		Commit: meta.Commit, SchemaVersion: meta.SchemaVersion, Progress: q.Progress})
	if err == nil {
		if reply.Status == "duplicate" {
			q.log().Info(wire.LogShipDuplicate, "id", id, "status", 200, "sha256", pk.SHA256, "bytes", pk.Bytes)
			res.Duplicates++
		} else {
			q.log().Info(wire.LogShipped, "id", id, "status", 201, "sha256", pk.SHA256, "bytes", pk.Bytes)
			res.Shipped++
		}
		q.failures = 0
		q.retire(id, res)
		return false, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	res.LastError = err.Error()
	status, code := transport.Status(err), transport.Code(err)
	switch transport.Classify(err) {
	case transport.Fatal:
		q.failures = 0
		q.reject(id, err, res)
		return false, nil
	case transport.Credentials:
		res.Transient++
		wait := q.backoff(err)
		res.RetryIn = wait
		q.retryAt = q.now().Add(wait)
		q.log().Error(wire.LogShipAuth, "id", id, "status", status, "error", code, "detail", detail(err), "retry_in", wait)
		return true, nil
	}
	res.Transient++
	wait := q.backoff(err)
	res.RetryIn = wait
	q.retryAt = q.now().Add(wait)
	q.log().Warn(wire.LogShipFailed, "id", id, "status", status, "error", code, "detail", detail(err), "retry_in", wait)
	return true, nil
}

// detail is the human part of a failure for logs.
func detail(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Detail
	}
	return err.Error()
}

// reject quarantines an episode the receiver refused for good.
func (q *Queue) reject(id string, err error, res *Result) {
	var we *wire.Error
	errors.As(err, &we)
	r := queuedir.Reason{
		Status:      we.Status,
		Error:       we.Code,
		Detail:      we.Detail,
		Remediation: transport.Remediation(we),
		At:          wire.FormatTime(q.now()),
		Receiver:    q.Up.URL(),
	}
	dest, qerr := quarantine(q.Dirs, id, r)
	delete(q.packed, id)
	args := []any{"id", id, "status", we.Status, "error", we.Code, "detail", we.Detail, "remediation", r.Remediation}
	if qerr != nil {
		// The episode stays (or already left); the next pass meets the
		// same answer and tries again.
		q.log().Error(wire.LogShipRejected, append(args, "quarantine_error", qerr.Error())...)
		if !errors.Is(qerr, ErrVanished) {
			q.markStuck(id)
		}
		return
	}
	q.log().Error(wire.LogShipRejected, append(args, "quarantined_as", dest)...)
	res.Quarantined++
	res.Pending--
}

// retire moves a confirmed episode to shipped/ and deletes its tarball. The
// directory's mtime is set first, while it is still in episodes/, so a crash
// never leaves a shipped entry dated by its old contents (retention measures
// from it); a crash before the rename only re-sends a duplicate.
func (q *Queue) retire(id string, res *Result) {
	src := filepath.Join(q.Dirs.Episodes, id)
	now := q.now()
	if err := os.Chtimes(src, now, now); err != nil {
		q.log().Warn("setting retirement time failed", "id", id, "error", err)
	}
	dest, err := moveFree(src, q.Dirs.Shipped, id)
	delete(q.packed, id)
	removeTarball(q.Dirs, id)
	q.progress()
	if err != nil {
		if errors.Is(err, ErrVanished) {
			q.log().Warn("episode moved away after the receiver stored it", "id", id)
			res.Pending--
			return
		}
		q.log().Error("retiring to shipped failed", "id", id, "error", err)
		q.markStuck(id)
		return
	}
	if dest != id {
		q.log().Warn("shipped name taken; retired under another", "id", id, "shipped_as", dest)
	}
	res.Pending--
}

// markStuck skips id for the rest of this process.
func (q *Queue) markStuck(id string) {
	if q.stuck == nil {
		q.stuck = map[string]bool{}
	}
	q.stuck[id] = true
	q.log().Error("episode cannot leave episodes/; skipped until the shipper restarts", "id", id)
}

// packOnce returns a tarball for id: the one this process packed earlier if
// it is untouched, else a fresh pack.
func (q *Queue) packOnce(ctx context.Context, id string) (string, pack.Result, error) {
	path := q.Dirs.Tarball(id)
	if p, ok := q.packed[id]; ok {
		if fi, err := os.Stat(path); err == nil && fi.Size() == p.size && fi.ModTime().Equal(p.mtime) {
			return path, p.res, nil
		}
		delete(q.packed, id)
	}
	packFn := q.Pack
	if packFn == nil {
		packFn = func(ctx context.Context, id string, progress func(int64)) (string, pack.Result, error) {
			return pack.ToOutbox(ctx, q.Dirs.Episodes, q.Dirs.Outbox, id,
				pack.Options{Level: q.Cfg.ZstdLevel, Progress: progress, Logger: q.log()})
		}
	}
	path, res, err := packFn(ctx, id, func(n int64) {
		if q.Progress != nil {
			q.Progress.Moved(n)
		}
	})
	if err != nil {
		return "", res, err
	}
	if fi, err := os.Stat(path); err == nil {
		if q.packed == nil {
			q.packed = map[string]packedTarball{}
		}
		q.packed[id] = packedTarball{res: res, size: fi.Size(), mtime: fi.ModTime()}
	}
	return path, res, nil
}

// backoff returns the wait after one more consecutive failure: exponential
// with full jitter between backoff_min_s and backoff_max_s, at least the
// receiver's Retry-After (capped at backoff_max_s).
func (q *Queue) backoff(err error) time.Duration {
	q.failures++
	lo := time.Duration(max(q.Cfg.BackoffMinS, 0)) * time.Second
	hi := max(time.Duration(q.Cfg.BackoffMaxS)*time.Second, lo)
	ceil := hi
	if q.failures < 20 { // past 2^19 the shift would only overflow
		ceil = min(lo<<(q.failures-1), hi)
	}
	rnd := rand.Float64
	if q.Rand != nil {
		rnd = q.Rand
	}
	d := lo + time.Duration(rnd()*float64(ceil-lo))
	var we *wire.Error
	if errors.As(err, &we) && we.RetryAfter > 0 {
		d = max(d, min(time.Duration(we.RetryAfter)*time.Second, hi))
	}
	return d.Round(time.Second)
}
