package replica

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/receiver/datadir"
)

// readIndex reads the rows appended to index.jsonl since the last call:
// unreplicated ones become pending, and each row's day is noted for the
// day objects. A torn last line is left for the next call.
func (r *Replicator) readIndex() error {
	path := datadir.New(r.o.DataDir).Index()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	defer f.Close()
	r.mu.Lock()
	off := r.indexOff
	r.mu.Unlock()
	if st, err := f.Stat(); err != nil || st.Size() <= off {
		return err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	var added []*item
	type dayNote struct {
		day        string
		off        int64
		replicated bool
	}
	var notes []dayNote
	r.mu.Lock()
	replicated := func(id string) bool { _, ok := r.replicated[id]; return ok }
	r.mu.Unlock()
	seen := map[string]bool{}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Longer than any valid row: skip it whole.
			n := int64(len(line))
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				n += int64(len(line))
			}
			if err != nil {
				break
			}
			off += n
			continue
		}
		if err != nil {
			break // EOF: a torn or absent last line waits
		}
		lineOff := off
		off += int64(len(line))
		row, perr := index.Parse(line[:len(line)-1])
		if perr != nil {
			continue
		}
		day, ok := dayOf(row.ReceivedAt)
		r.mu.Lock()
		rep := replicated(row.ID)
		r.mu.Unlock()
		if ok {
			notes = append(notes, dayNote{day, lineOff, rep})
		}
		if !rep && !seen[row.ID] {
			seen[row.ID] = true
			added = append(added, &item{row: row})
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.indexOff = off
	for _, n := range notes {
		if first, ok := r.dayFirst[n.day]; !ok || n.off < first {
			r.dayFirst[n.day] = n.off
		}
		if n.replicated {
			r.dayRows[n.day]++
		}
	}
	if len(added) > 0 {
		pendingIDs := make(map[string]bool, len(r.pending))
		for _, it := range r.pending {
			pendingIDs[it.row.ID] = true
		}
		for _, it := range added {
			if !pendingIDs[it.row.ID] {
				r.pending = append(r.pending, it)
			}
		}
		r.statusDirt = true
	}
	return nil
}

// scanLines calls fn for every complete line of path (a missing file has
// none) and reports a torn last line.
func scanLines(path string, fn func([]byte)) (bool, error) {
	return jsonl.ScanFile(path, func(line []byte) error { fn(line); return nil })
}
