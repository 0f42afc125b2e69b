package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"cis490/internal/s3"
	"cis490/receiver/datadir"
)

// Object metadata of an episode (x-amz-meta-*).
const (
	MetaHost       = "cis490-host"
	MetaCommit     = "cis490-commit"
	MetaReceivedAt = "cis490-received-at"
)

// upload copies one episode, streamed from its store/ file, and returns nil
// once the store confirmed the row's checksum (Run then records it).
func (r *Replicator) upload(ctx context.Context, it *item) error {
	row := it.row
	path := r.storePath(row.ID)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &kindError{KindLocal, fmt.Errorf("%s: store file is missing", row.ID)}
	}
	if err != nil {
		return &kindError{KindLocal, err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return &kindError{KindLocal, err}
	}
	if st.Size() != row.Bytes {
		return &kindError{KindLocal, fmt.Errorf("%s: store file has %d bytes, its row says %d", row.ID, st.Size(), row.Bytes)}
	}
	key := Key(r.o.Config.Prefix, row.ID)
	meta := map[string]string{MetaHost: row.Host, MetaReceivedAt: row.ReceivedAt}
	if row.Commit != "" {
		meta[MetaCommit] = row.Commit
	}
	var got string
	err = r.watchYielding(ctx, func(ctx context.Context, progress func()) error {
		var err error
		got, err = r.client.Put(ctx, s3.PutInput{Key: key, Body: &progressReader{r: f, progress: progress},
			Size: row.Bytes, SHA256: row.SHA256, Meta: meta, ContentType: "application/zstd"})
		return err
	})
	if err != nil {
		return err
	}
	if got == "" {
		// The store did not echo the checksum: ask for the one it keeps.
		err = r.watch(ctx, func(ctx context.Context, _ func()) error {
			o, found, err := r.client.Head(ctx, key)
			if err == nil && !found {
				err = fmt.Errorf("%s: the store lost the object right after storing it", key)
			}
			got = o.SHA256
			return err
		})
		if err != nil {
			return err
		}
	}
	if got == "" {
		return &kindError{KindChecksum, fmt.Errorf("%s: the store keeps no sha256 checksum for the object (it must support x-amz-checksum-sha256)", key)}
	}
	if got != row.SHA256 {
		return &kindError{KindChecksum, fmt.Errorf("%s: the store answered checksum %s, the row says %s", key, got, row.SHA256)}
	}
	return nil
}

func (r *Replicator) storePath(id string) string {
	if r.o.Store != nil {
		return r.o.Store.Path(id)
	}
	return datadir.New(r.o.DataDir).Stored(id)
}

// watch runs fn with a context that is cancelled when no progress was
// reported for StallTimeout: a store that stops reading the body or never
// answers is abandoned, and the attempt is a failure of kind stall.
func (r *Replicator) watch(ctx context.Context, fn func(ctx context.Context, progress func()) error) error {
	return r.watchOpts(ctx, false, fn)
}

// watchYielding is watch that also abandons the copy (kind yield, not a
// failure) as soon as an upload into the receiver starts, unless the
// oldest pending episode is overdue: uploads come first, and the copy is
// made again later.
func (r *Replicator) watchYielding(ctx context.Context, fn func(ctx context.Context, progress func()) error) error {
	return r.watchOpts(ctx, r.o.Uploading != nil, fn)
}

func (r *Replicator) watchOpts(ctx context.Context, yield bool, fn func(ctx context.Context, progress func()) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	progress := func() { last.Store(time.Now().UnixNano()) }
	var stalled, yielded atomic.Bool
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(max(r.o.StallTimeout/8, 10*time.Millisecond))
		defer tick.Stop()
		var yieldTick <-chan time.Time
		if yield {
			t := time.NewTicker(yieldPoll)
			defer t.Stop()
			yieldTick = t.C
		}
		for {
			select {
			case <-stop:
				return
			case <-yieldTick:
				if r.o.Uploading() > 0 && !r.overdue(r.o.Now()) {
					yielded.Store(true)
					cancel()
					return
				}
			case <-tick.C:
				if time.Since(time.Unix(0, last.Load())) > r.o.StallTimeout {
					stalled.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	err := fn(ctx, progress)
	if err != nil && yielded.Load() {
		return &kindError{KindYield, fmt.Errorf("gave way to an upload into the receiver: %w", err)}
	}
	if err != nil && stalled.Load() {
		return &kindError{KindStall, fmt.Errorf("no progress for %s: %w", r.o.StallTimeout, err)}
	}
	return err
}

// progressReader reports every read that moved bytes.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress()
	}
	if err == io.EOF {
		// The wait for the answer starts now.
		p.progress()
	}
	return n, err
}
