// Package replica copies the receiver's dataset to an S3-compatible bucket
// in the background (SPEC §17): every stored episode to
// <prefix>episodes/<id>.tar.zst, checked by the store against the row's
// sha256 and only then recorded in replica.jsonl; the index as one object
// per UTC day; and, with local_keep_days, the removal of local copies the
// bucket confirmed. It also verifies a bucket against the index and
// restores a data directory from one.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"cis490/internal/config"
	"cis490/internal/index"
	"cis490/internal/s3"
	"cis490/internal/wire"
	"cis490/receiver/replicalog"
	"cis490/receiver/store"
)

// Defaults of the timing Options.
const (
	DefaultIndexEvery   = 5 * time.Minute
	DefaultTierEvery    = time.Hour
	DefaultBackoffMin   = time.Second
	DefaultBackoffMax   = 5 * time.Minute
	DefaultStallTimeout = 60 * time.Second
	DefaultYieldMax     = 10 * time.Minute
	statusEvery         = 5 * time.Second
	flushTimeout        = 5 * time.Second
	yieldPoll           = 20 * time.Millisecond
)

// Error kinds of local failures (the store's are s3.Kind*).
const (
	KindLocal    = "local"    // the store/ file is missing, short or unreadable
	KindChecksum = "checksum" // the store answered another checksum, or none
	KindStall    = "stall"    // the store stopped reading or answering
	// KindYield is a copy abandoned for an upload into the receiver: not a
	// failure, the episode is simply copied again later.
	KindYield = "yield"
)

// Options configure a Replicator.
type Options struct {
	DataDir string
	Config  config.Replica
	// Store, if set, is the open store of a running receiver: tiering goes
	// through it. Without it nothing is tiered.
	Store *store.Store
	// Client, if set, replaces the client built from Config.
	Client *s3.Client
	Logger *slog.Logger
	Now    func() time.Time
	// IndexEvery is the least time between two uploads of one day's index
	// object (5 min).
	IndexEvery time.Duration
	// TierEvery is how often local copies are considered for removal (1 h).
	TierEvery time.Duration
	// BackoffMin and BackoffMax bound the wait after a failure (1 s, 5 min).
	BackoffMin, BackoffMax time.Duration
	// StallTimeout abandons a request during which no byte moved for this
	// long (60 s).
	StallTimeout time.Duration
	// StatusEvery is how often the state is published for `replica
	// status` and fleet-health while something is pending (5 s).
	StatusEvery time.Duration
	// Uploading, if set, returns how many uploads are streaming into the
	// receiver now: replication yields to them (see Run).
	Uploading func() int64
	// YieldMax is how long the oldest pending episode may wait while
	// replication yields to uploads (10 min); past it one episode at a time
	// is copied even during uploads.
	YieldMax time.Duration
	// Event, if set, is called after each recorded episode, failure and
	// uploaded day object (tests wait on it). It must not block.
	Event func(Event)
}

// Event is what Options.Event hears of.
type Event struct {
	Kind string // "replicated", "failed", "yielded", "day"
	ID   string // episode id or day
	Err  error
}

func (r *Replicator) event(e Event) {
	if r.o.Event != nil {
		r.o.Event(e)
	}
}

// Replicator copies episodes and index days to the bucket.
type Replicator struct {
	o      Options
	client *s3.Client
	log    *slog.Logger
	wake   chan struct{}

	mu         sync.Mutex
	pending    []*item         // in index order
	inflight   map[string]bool // claimed, until recorded or failed
	active     int             // uploads running
	replicated map[string]struct{}
	indexOff   int64 // bytes of index.jsonl read so far
	dayFirst   map[string]int64
	dayRows    map[string]int // replicated rows per day
	daysSent   map[string]int // rows in the uploaded day objects
	daySentAt  map[string]time.Time
	notBefore  time.Time // global backoff after store-wide failures
	failures   int
	lastErr    *replicalog.Fault
	errCount   map[string]uint64
	statusDirt bool
	record     *replicalog.Log
}

type item struct {
	row       index.Row
	failures  int
	notBefore time.Time
}

// NewClient builds the S3 client of a [replica] table, reading the
// credential files.
func NewClient(c config.Replica) (*s3.Client, error) {
	id, err := secret(c.AccessKeyID, c.AccessKeyIDFile, "access_key_id")
	if err != nil {
		return nil, err
	}
	key, err := secret(c.SecretAccessKey, c.SecretAccessKeyFile, "secret_access_key")
	if err != nil {
		return nil, err
	}
	// The body is protected by the signed x-amz-checksum-sha256 header,
	// which the store checks; signing the payload hash as well would make
	// the store hash every byte twice.
	return s3.New(s3.Config{Endpoint: c.Endpoint, Bucket: c.Bucket, Region: c.Region,
		AccessKeyID: id, SecretAccessKey: key, PathStyle: c.PathStyle, CAFile: c.CAFile, UnsignedPayload: true})
}

func secret(inline, file, name string) (string, error) {
	if inline != "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("replica %s_file: %w", name, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("replica %s_file %s is empty", name, file)
	}
	return v, nil
}

// New prepares a replicator: it reads replica.jsonl and the index to learn
// what is pending. Run starts the work.
func New(o Options) (*Replicator, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IndexEvery <= 0 {
		o.IndexEvery = DefaultIndexEvery
	}
	if o.TierEvery <= 0 {
		o.TierEvery = DefaultTierEvery
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.YieldMax <= 0 {
		o.YieldMax = DefaultYieldMax
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = statusEvery
	}
	if o.Config.Concurrency < 1 {
		o.Config.Concurrency = 1
	}
	client := o.Client
	if client == nil {
		var err error
		if client, err = NewClient(o.Config); err != nil {
			return nil, err
		}
	}
	r := &Replicator{
		o: o, client: client, log: o.Logger.With("component", "replica"),
		wake:       make(chan struct{}, 1),
		inflight:   map[string]bool{},
		replicated: map[string]struct{}{},
		dayFirst:   map[string]int64{},
		dayRows:    map[string]int{},
		daySentAt:  map[string]time.Time{},
		errCount:   map[string]uint64{},
	}
	rec, err := replicalog.Open(o.DataDir)
	if err != nil {
		return nil, err
	}
	r.record = rec
	if err := replicalog.ReadFile(o.DataDir, func(row replicalog.Row) {
		r.replicated[row.ID] = struct{}{}
	}); err != nil {
		rec.Close()
		return nil, err
	}
	if r.daysSent, err = replicalog.ReadDays(o.DataDir); err != nil {
		rec.Close()
		return nil, err
	}
	if err := r.readIndex(); err != nil {
		rec.Close()
		return nil, err
	}
	if st, ok, _ := replicalog.ReadStatus(o.DataDir); ok {
		r.lastErr = st.LastError
	}
	r.statusDirt = true
	return r, nil
}

// Close releases the record. Call it after Run returned.
func (r *Replicator) Close() error { return r.record.Close() }

// Stored tells the replicator that the store appended row. It never blocks:
// the replicator reads the index itself and this only wakes it.
func (r *Replicator) Stored(index.Row) {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Key returns the object key of episode id.
func Key(prefix, id string) string { return prefix + "episodes/" + id + wire.EpisodeSuffix }

// DayKey returns the object key of the index rows received on day
// (YYYY-MM-DD).
func DayKey(prefix, day string) string { return prefix + "index/" + day + ".jsonl" }

// dayOf returns the UTC day of a received_at timestamp.
func dayOf(receivedAt string) (string, bool) {
	t, err := wire.ParseTime(receivedAt)
	if err != nil {
		return "", false
	}
	return t.UTC().Format("2006-01-02"), true
}

// Run replicates until ctx ends.
func (r *Replicator) Run(ctx context.Context) error {
	// Workers take the next episode themselves (claim) as soon as they are
	// free; a confirmed episode is then recorded by a goroutine of its own,
	// so the record's fsync (shared by the episodes confirmed meanwhile) is
	// never in an upload's way. The loop below keeps the books: the index
	// tail, failures, records, day objects, tiering, status.
	var wg, recording sync.WaitGroup
	kick := make(chan struct{}, r.o.Config.Concurrency)
	done := make(chan result, r.o.Config.Concurrency)
	send := func(res result) {
		select {
		case done <- res:
		case <-ctx.Done():
			// The loop has stopped; an episode already recorded in
			// replica.jsonl must still count for the final day objects.
			if res.err == nil {
				r.finish(res, r.o.Now())
			}
		}
	}
	for i := 0; i < r.o.Config.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				it := r.claim(r.o.Now())
				if it == nil {
					select {
					case <-kick:
						continue
					case <-ctx.Done():
						return
					}
				}
				err := r.upload(ctx, it)
				r.mu.Lock()
				r.active--
				r.mu.Unlock()
				if err != nil {
					send(result{it: it, err: err})
					continue
				}
				recording.Add(1)
				go func() {
					defer recording.Done()
					row := replicalog.Row{ID: it.row.ID, SHA256: it.row.SHA256, At: wire.FormatTime(r.o.Now())}
					send(result{it: it, err: r.record.Append(row)})
				}()
			}
		}()
	}
	defer func() {
		wg.Wait()
		recording.Wait()
		for drained := false; !drained; {
			select {
			case res := <-done: // sent, but never read by the loop
				r.finish(res, r.o.Now())
			default:
				drained = true
			}
		}
		// A stopping receiver brings the day objects up to date with what
		// the bucket confirmed, within a few seconds.
		if r.ready(r.o.Now()) {
			fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
			r.uploadDays(fctx, r.o.Now(), true)
			cancel()
		}
		r.writeStatus()
	}()
	r.log.Info("replicating", "endpoint", r.o.Config.Endpoint, "bucket", r.client.Bucket(),
		"prefix", r.o.Config.Prefix, "pending", r.pendingLen())
	nextTier := r.o.Now()
	nextStatus := r.o.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := r.o.Now()
		if err := r.readIndex(); err != nil {
			r.fail(nil, KindLocal, err)
		}
		for i := 0; i < r.o.Config.Concurrency; i++ {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
		if r.ready(now) {
			r.uploadDays(ctx, now, false)
		}
		if r.o.Config.LocalKeepDays > 0 && r.o.Store != nil && !now.Before(nextTier) {
			r.tier(ctx, now)
			nextTier = now.Add(r.o.TierEvery)
		}
		if !now.Before(nextStatus) {
			r.writeStatus()
			nextStatus = now.Add(r.o.StatusEvery)
		}
		wait := r.nextWake(now)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case res := <-done:
			r.finish(res, r.o.Now())
		case <-r.wake:
		case <-timer.C:
		}
	}
}

// result is a worker's news of an episode: recorded (err nil), or failed.
type result struct {
	it  *item
	err error
}

// ready reports whether the store may be tried now (no global backoff).
func (r *Replicator) ready(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !now.Before(r.notBefore)
}

// nextWake returns how long the loop may sleep.
func (r *Replicator) nextWake(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	wait := r.o.StatusEvery
	if d := r.notBefore.Sub(now); d > 0 && d < wait {
		wait = d
	}
	for _, it := range r.pending {
		if r.inflight[it.row.ID] {
			continue
		}
		if d := max(it.notBefore.Sub(now), r.notBefore.Sub(now)); d < wait {
			wait = max(d, time.Millisecond)
		}
		break
	}
	for day := range r.dirtyDaysLocked() {
		if d := r.daySentAt[day].Add(r.o.IndexEvery).Sub(now); d < wait {
			wait = max(d, time.Millisecond)
		}
	}
	return wait
}

// overdue reports whether the oldest pending episode has waited YieldMax.
func (r *Replicator) overdue(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return false
	}
	t, err := wire.ParseTime(r.pending[0].row.ReceivedAt)
	return err == nil && now.Sub(t) > r.o.YieldMax
}

// claim returns the oldest pending episode that may be tried now, or nil.
// Uploads into the receiver come first: while one streams, no new copy
// starts, unless the oldest pending episode has waited YieldMax, and then
// one at a time (the store wakes the loop, and so the workers, when an
// upload is stored).
func (r *Replicator) claim(now time.Time) *item {
	limit := r.o.Config.Concurrency
	if r.o.Uploading != nil && r.o.Uploading() > 0 {
		limit = 0
		if r.overdue(now) {
			limit = 1
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Before(r.notBefore) || r.active >= limit {
		return nil
	}
	for _, it := range r.pending {
		if r.inflight[it.row.ID] || now.Before(it.notBefore) {
			continue
		}
		r.inflight[it.row.ID] = true
		r.active++
		return it
	}
	return nil
}

// finish records the outcome of one upload.
func (r *Replicator) finish(res result, now time.Time) {
	r.mu.Lock()
	delete(r.inflight, res.it.row.ID)
	r.mu.Unlock()
	if res.err == nil {
		r.mu.Lock()
		r.failures = 0
		r.replicated[res.it.row.ID] = struct{}{}
		for i, it := range r.pending {
			if it == res.it {
				r.pending = append(r.pending[:i], r.pending[i+1:]...)
				break
			}
		}
		if day, ok := dayOf(res.it.row.ReceivedAt); ok {
			r.dayRows[day]++
		}
		r.statusDirt = true
		r.mu.Unlock()
		r.event(Event{Kind: "replicated", ID: res.it.row.ID})
		return
	}
	if kindOf(res.err) == KindYield {
		r.event(Event{Kind: "yielded", ID: res.it.row.ID})
		return // copied again once the uploads are done
	}
	if errors.Is(res.err, context.Canceled) && kindOf(res.err) != KindStall {
		return // shutting down
	}
	r.fail(res.it, kindOf(res.err), res.err)
}

// kindOf returns the error kind /metrics counts err under.
func kindOf(err error) string {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	var se *s3.Error
	if errors.As(err, &se) {
		return se.Kind
	}
	return KindLocal
}

// kindError tags a local failure with its kind.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// fail records a failure and schedules the retry: failures of the store
// (down, throttled, refusing) pause every upload; failures of one episode
// (its file, its checksum) pause that episode only.
func (r *Replicator) fail(it *item, kind string, err error) {
	now := r.o.Now()
	r.mu.Lock()
	r.errCount[kind]++
	f := &replicalog.Fault{At: wire.FormatTime(now), Kind: kind, Detail: err.Error()}
	if it != nil {
		f.ID = it.row.ID
	}
	r.lastErr = f
	r.statusDirt = true
	var retryAfter time.Duration
	var se *s3.Error
	if errors.As(err, &se) {
		retryAfter = se.RetryAfter
	}
	perItem := it != nil && (kind == KindLocal || kind == KindChecksum)
	var wait time.Duration
	if perItem {
		it.failures++
		wait = r.backoff(it.failures, retryAfter)
		it.notBefore = now.Add(wait)
	} else {
		r.failures++
		wait = r.backoff(r.failures, retryAfter)
		r.notBefore = now.Add(wait)
	}
	r.mu.Unlock()
	args := []any{"kind", kind, "error", err, "retry_in", wait.Round(time.Millisecond)}
	if it != nil {
		args = append(args, "id", it.row.ID)
	}
	r.log.Warn("replication failed", args...)
	ev := Event{Kind: "failed", Err: err}
	if it != nil {
		ev.ID = it.row.ID
	}
	r.event(ev)
}

// backoff returns the wait after n failures in a row: exponential from
// BackoffMin with jitter, at most BackoffMax, at least the store's
// Retry-After (itself capped at BackoffMax).
func (r *Replicator) backoff(n int, retryAfter time.Duration) time.Duration {
	d := r.o.BackoffMin
	for i := 1; i < n && d < r.o.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, r.o.BackoffMax)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	return min(max(d, retryAfter), r.o.BackoffMax)
}

func (r *Replicator) pendingLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}
