package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/index"
	"cis490/receiver/datadir"
)

// An upload is written into a spare: an empty file in tmp/ made ahead of
// need, whose name was made durable (one fsync of tmp/ for a batch of them)
// before it is handed out. That name is what lets an upload skip the fsync
// of store/ before its row: once the spare's bytes are fsynced they are
// reachable after a crash under a durable name, so the commit is
//
//	fsync the spare; link it to store/<id> (never replacing); append the row
//	and fsync the index; answer
//
// two flushes in a row where a fresh temp file needs three (file, store/,
// index). The spare keeps its tmp/ name until an fsync of store/ that began
// after its link has ended (retire, in the background, shared by every
// upload of the last retireEvery); only then is the tmp/ name removed. If a
// crash loses the store/ name of an episode whose row is durable, the next
// start finds the bytes under the tmp/ name, checks them against the row
// and links them again (recoverSpares) before it empties tmp/.
const (
	// sparesReady is how many spares are kept ready; a refill starts when
	// fewer than half are left.
	sparesReady = 64
	// retireEvery bounds how long a retired spare keeps its tmp/ name, and
	// so how often the background fsyncs store/.
	retireEvery = time.Second
)

// spares hands out spare files and retires them.
type spares struct {
	layout    datadir.Layout
	tmpSync   *atomicio.GroupSyncer // fsyncs tmp/, making spares' names durable
	storeSync *atomicio.GroupSyncer // fsyncs store/, making links durable
	log       *slog.Logger

	mu      sync.Mutex
	next    uint64   // number of the next spare's name
	ready   []*spare // names durable, empty
	retired []string // tmp/ paths of spares linked into store/
	closed  bool

	wake chan struct{} // a refill is wanted
	stop chan struct{}
	done chan struct{}

	refillErr string // the last refill failure logged, "" once one succeeds
}

// spare is one upload file.
type spare struct {
	*os.File
	path   string
	direct bool // open with O_DIRECT (see writeNew)
}

// openSpares starts the spare pool of a data directory whose tmp/ was just
// emptied, with its first spares ready; tmpDir and storeDir stay open for
// the pool's life.
func openSpares(l datadir.Layout, tmpDir, storeDir *os.File, log *slog.Logger) *spares {
	p := &spares{
		layout:    l,
		tmpSync:   atomicio.NewGroupSyncer(tmpDir),
		storeSync: atomicio.NewGroupSyncer(storeDir),
		log:       log,
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if err := p.refill(); err != nil {
		log.Warn("could not make spare upload files; uploads make their own", "error", err)
	}
	go p.loop()
	return p
}

// take returns an empty spare whose name is durable. When none is ready it
// makes one, paying for an fsync of tmp/ itself.
func (p *spares) take() (*spare, error) {
	p.mu.Lock()
	if n := len(p.ready); n > 0 {
		s := p.ready[n-1]
		p.ready = p.ready[:n-1]
		low := n-1 < sparesReady/2
		p.mu.Unlock()
		if low {
			p.kick()
		}
		return s, nil
	}
	p.mu.Unlock()
	p.kick()
	s, err := p.create()
	if err != nil {
		return nil, err
	}
	if err := p.tmpSync.Sync(); err != nil {
		s.discard()
		return nil, fmt.Errorf("fsync %s: %w", p.layout.Tmp(), err)
	}
	return s, nil
}

// create makes one spare (its name not yet durable).
func (p *spares) create() (*spare, error) {
	p.mu.Lock()
	n := p.next
	p.next++
	p.mu.Unlock()
	path := p.layout.Spare(n)
	f, direct, err := openSpareFile(path)
	if err != nil {
		return nil, fmt.Errorf("create spare: %w", err)
	}
	return &spare{File: f, path: path, direct: direct}, nil
}

// link gives the fsynced, closed spare the name dst without replacing an
// existing dst (an error matching fs.ErrExist); its tmp/ name stays.
func (s *spare) link(dst string) error { return os.Link(s.path, dst) }

// discard drops a spare that holds nothing stored.
func (s *spare) discard() {
	s.Close()
	os.Remove(s.path)
}

// retire hands over the tmp/ name of a spare that was linked into store/
// and whose row is durable: it is removed after the next fsync of store/.
func (p *spares) retire(s *spare) {
	p.mu.Lock()
	p.retired = append(p.retired, s.path)
	p.mu.Unlock()
}

// kick asks the loop for a refill.
func (p *spares) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// loop refills the ready spares when asked and retires linked ones every
// retireEvery.
func (p *spares) loop() {
	defer close(p.done)
	tick := time.NewTicker(retireEvery)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
			p.noteRefill(p.refill())
		case <-tick.C:
			if err := p.retireLinked(false); err != nil {
				p.log.Warn("could not retire spare upload files; retrying", "error", err)
			}
		}
	}
}

// noteRefill logs a refill's outcome: a failure once, not at every upload
// that asks for a refill while it lasts, and the recovery after it.
func (p *spares) noteRefill(err error) {
	switch {
	case err != nil && err.Error() != p.refillErr:
		p.refillErr = err.Error()
		p.log.Warn("could not make spare upload files; uploads make their own", "error", err)
	case err == nil && p.refillErr != "":
		p.refillErr = ""
		p.log.Info("spare upload files are made again")
	}
}

// refill makes spares up to sparesReady and makes their names durable with
// one fsync of tmp/.
func (p *spares) refill() error {
	p.mu.Lock()
	want := sparesReady - len(p.ready)
	p.mu.Unlock()
	if want <= sparesReady/2 {
		return nil
	}
	made := make([]*spare, 0, want)
	var err error
	for range want {
		var s *spare
		if s, err = p.create(); err != nil {
			break
		}
		made = append(made, s)
	}
	if len(made) > 0 {
		if serr := p.tmpSync.Sync(); serr != nil {
			for _, s := range made {
				s.discard()
			}
			return errors.Join(err, fmt.Errorf("fsync %s: %w", p.layout.Tmp(), serr))
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		for _, s := range made {
			s.discard()
		}
		return err
	}
	p.ready = append(p.ready, made...)
	p.mu.Unlock()
	return err
}

// retireLinked fsyncs store/, so that every link and removal made before
// is durable, then removes the tmp/ names of the spares retired before the
// fsync. Without force it does nothing when no spare waits.
func (p *spares) retireLinked(force bool) error {
	p.mu.Lock()
	paths := p.retired
	p.retired = nil
	p.mu.Unlock()
	if len(paths) == 0 && !force {
		return nil
	}
	if err := p.storeSync.Sync(); err != nil {
		p.mu.Lock()
		p.retired = append(paths, p.retired...)
		p.mu.Unlock()
		return fmt.Errorf("fsync %s: %w", p.layout.Store(), err)
	}
	var err error
	for _, path := range paths {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// close stops the loop, retires every linked spare and removes the ready
// ones, leaving tmp/ as the start found it.
func (p *spares) close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	err := p.retireLinked(false)
	p.mu.Lock()
	ready := p.ready
	p.ready = nil
	p.mu.Unlock()
	for _, s := range ready {
		s.discard()
	}
	return err
}

// recoverSpares runs at start-up before tmp/ is emptied: it links back into
// store/ every spare whose bytes are the episode of a row that has no file
// there, which is what a crash leaves when an episode's row was durable
// and its store/ name was not yet. A spare is a candidate when it holds
// bytes and has no second name (a link that survived); it is matched by
// length, then by sha256 against the row. It returns the ids linked.
func recoverSpares(l datadir.Layout) ([]string, error) {
	ents, err := os.ReadDir(l.Tmp())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	bySize := map[int64][]string{}
	for _, e := range ents {
		if !datadir.IsSpare(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(l.Tmp(), e.Name())
		st, err := os.Lstat(path)
		if err != nil {
			return nil, err
		}
		if st.Size() == 0 || linkCount(st) > 1 {
			continue
		}
		bySize[st.Size()] = append(bySize[st.Size()], path)
	}
	if len(bySize) == 0 {
		return nil, nil
	}
	type want struct{ id, sha string }
	var missing []want
	var sizes []int64
	_, _, err = index.ReadFile(l.Index(), func(r index.Row) {
		if _, ok := bySize[r.Bytes]; !ok {
			return
		}
		if _, err := os.Lstat(l.Stored(r.ID)); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, want{r.ID, r.SHA256})
			sizes = append(sizes, r.Bytes)
		}
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read index: %w", err)
	}
	sums := map[string]string{} // spare path -> sha256
	used := map[string]bool{}
	var linked []string
	for i, m := range missing {
		for _, path := range bySize[sizes[i]] {
			if used[path] {
				continue
			}
			sum, ok := sums[path]
			if !ok {
				if sum, _, err = hashFile(path); err != nil {
					return linked, fmt.Errorf("hash %s: %w", path, err)
				}
				sums[path] = sum
			}
			if sum != m.sha {
				continue
			}
			if err := os.Link(path, l.Stored(m.id)); err != nil && !errors.Is(err, fs.ErrExist) {
				return linked, fmt.Errorf("link %s: %w", m.id, err)
			}
			used[path] = true
			linked = append(linked, m.id)
			break
		}
	}
	if len(linked) > 0 {
		if err := atomicio.SyncDir(l.Store()); err != nil {
			return linked, err
		}
	}
	return linked, nil
}

// linkCount is the number of names of the file st describes.
func linkCount(st fs.FileInfo) uint64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Nlink)
	}
	return 1
}

// TmpLeftovers lists the entries of dataDir's tmp/ that hold something not
// stored: anything but the spares a serving receiver keeps, which are empty
// or whose bytes are also a store/ file until that link is durable.
func TmpLeftovers(dataDir string) ([]string, error) {
	tmp := datadir.New(dataDir).Tmp()
	ents, err := os.ReadDir(tmp)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var left []string
	for _, e := range ents {
		if datadir.IsSpare(e.Name()) {
			st, err := os.Lstat(filepath.Join(tmp, e.Name()))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if st.Size() == 0 || linkCount(st) > 1 {
				continue
			}
		}
		left = append(left, e.Name())
	}
	return left, nil
}
