package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"cis490/internal/index"
)

// rowIndex finds an id's durable row in index.jsonl without scanning the
// file: it maps a hash of each id to the byte offset of its row, and the
// row itself is read back from the file and its id compared, so a hash
// collision costs a read, never a wrong answer. The rows present at start-up
// live in two sorted parallel slices, 8 bytes per row (a 32-bit hash and a
// 32-bit offset while the index is under 4 GiB); rows appended since live in
// a small map. Only rows whose append returned (fsynced) are ever added, so
// a lookup answers from durable rows alone (SPEC §4.2).
type rowIndex struct {
	mu sync.RWMutex
	// full holds 64-bit hashes and offsets while start-up re-indexes the
	// store (see hasHash); compact replaces it with hs and offs.
	full   []rowEntry
	hs     []uint32
	offs32 []uint32         // offsets when the index was under 4 GiB at start-up
	offs64 []int64          // offsets otherwise
	recent map[uint64]int64 // rows appended since start-up: hash → newest offset
	f      *os.File         // index.jsonl, read-only
}

type rowEntry struct {
	h   uint64
	off int64
}

// buildRowIndex reads every row's id and offset from the index at path.
func buildRowIndex(path string) (*rowIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("index lookup: %w", err)
	}
	ri := &rowIndex{f: f, recent: make(map[uint64]int64)}
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 64<<10)
	var off int64
	for {
		line, err := br.ReadSlice('\n')
		n := len(line)
		if errors.Is(err, bufio.ErrBufferFull) {
			// An overlong line is no row of the receiver's; skip it whole.
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				n += len(line)
			}
			line = nil
		}
		if err == nil && line != nil {
			if id, ok := index.RowID(line[:len(line)-1]); ok {
				ri.full = append(ri.full, rowEntry{h: idHash(id), off: off})
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("index lookup: %w", err)
		}
	}
	slices.SortFunc(ri.full, func(a, b rowEntry) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return int(a.off - b.off)
	})
	return ri, nil
}

// compact trades the start-up table for the small one lookups use: the
// high 32 bits of each hash and the offset, in the same order.
func (ri *rowIndex) compact() {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	ri.hs = make([]uint32, len(ri.full))
	small := true
	for _, e := range ri.full {
		small = small && e.off < 1<<32
	}
	if small {
		ri.offs32 = make([]uint32, len(ri.full))
	} else {
		ri.offs64 = make([]int64, len(ri.full))
	}
	for i, e := range ri.full {
		ri.hs[i] = uint32(e.h >> 32)
		if small {
			ri.offs32[i] = uint32(e.off)
		} else {
			ri.offs64[i] = e.off
		}
	}
	ri.full = nil
}

// add records that the row of id starts at off. It must be called only once
// the row is durable.
func (ri *rowIndex) add(id string, off int64) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	ri.recent[idHash(id)] = off
	if ri.full == nil && len(ri.recent) > max(4096, len(ri.hs)/8) {
		ri.mergeRecent()
	}
}

// mergeRecent folds the rows appended since start-up into the compact
// table, so a long-running receiver's memory stays 8 bytes per row rather
// than a map entry per upload. It costs one pass over the table, once per
// len/8 appends. ri.mu must be held.
func (ri *rowIndex) mergeRecent() {
	add := make([]rowEntry, 0, len(ri.recent))
	for h, off := range ri.recent {
		add = append(add, rowEntry{h: h >> 32 << 32, off: off})
	}
	slices.SortFunc(add, func(a, b rowEntry) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return int(a.off - b.off)
	})
	small := ri.offs64 == nil
	for _, e := range add {
		small = small && e.off < 1<<32
	}
	n := len(ri.hs) + len(add)
	hs := make([]uint32, 0, n)
	var offs32 []uint32
	var offs64 []int64
	if small {
		offs32 = make([]uint32, 0, n)
	} else {
		offs64 = make([]int64, 0, n)
	}
	old := func(i int) int64 {
		if ri.offs32 != nil {
			return int64(ri.offs32[i])
		}
		return ri.offs64[i]
	}
	push := func(h uint32, off int64) {
		hs = append(hs, h)
		if small {
			offs32 = append(offs32, uint32(off))
		} else {
			offs64 = append(offs64, off)
		}
	}
	i, j := 0, 0
	for i < len(ri.hs) || j < len(add) {
		if j == len(add) || (i < len(ri.hs) && ri.hs[i] <= uint32(add[j].h>>32)) {
			push(ri.hs[i], old(i))
			i++
		} else {
			push(uint32(add[j].h>>32), add[j].off)
			j++
		}
	}
	ri.hs, ri.offs32, ri.offs64 = hs, offs32, offs64
	clear(ri.recent)
}

// find returns the newest row of id.
func (ri *rowIndex) find(id string) (index.Row, bool, error) {
	h := idHash(id)
	ri.mu.RLock()
	recent, inRecent := ri.recent[h]
	var cands []int64
	if ri.full != nil {
		i, _ := slices.BinarySearchFunc(ri.full, h, cmpEntry)
		for ; i < len(ri.full) && ri.full[i].h == h; i++ {
			cands = append(cands, ri.full[i].off)
		}
	} else {
		h32 := uint32(h >> 32)
		i, _ := slices.BinarySearch(ri.hs, h32)
		for ; i < len(ri.hs) && ri.hs[i] == h32; i++ {
			if ri.offs32 != nil {
				cands = append(cands, int64(ri.offs32[i]))
			} else {
				cands = append(cands, ri.offs64[i])
			}
		}
	}
	ri.mu.RUnlock()
	if inRecent {
		row, err := ri.readRow(recent)
		if err != nil {
			return index.Row{}, false, err
		}
		if row.ID == id {
			return row, true, nil
		}
		// Another id with the same hash was appended since start-up and took
		// the map's slot: the only case the map cannot answer.
		return ri.scan(id)
	}
	// Candidates come in file order: the newest row of id wins.
	slices.Sort(cands)
	for j := len(cands) - 1; j >= 0; j-- {
		row, err := ri.readRow(cands[j])
		if err != nil {
			return index.Row{}, false, err
		}
		if row.ID == id {
			return row, true, nil
		}
	}
	return index.Row{}, false, nil
}

func cmpEntry(e rowEntry, h uint64) int {
	switch {
	case e.h < h:
		return -1
	case e.h > h:
		return 1
	}
	return 0
}

// readRow parses the row starting at off.
func (ri *rowIndex) readRow(off int64) (index.Row, error) {
	buf := make([]byte, 1024)
	var line []byte
	for {
		n, err := ri.f.ReadAt(buf, off+int64(len(line)))
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			line = append(line, buf[:i]...)
			break
		}
		line = append(line, buf[:n]...)
		if err != nil {
			return index.Row{}, fmt.Errorf("index row at %d: %w", off, err)
		}
		if len(line) > 1<<20 {
			return index.Row{}, fmt.Errorf("index row at %d: longer than 1 MiB", off)
		}
	}
	return index.Parse(line)
}

// scan reads the whole index backward for id's newest row.
func (ri *rowIndex) scan(id string) (index.Row, bool, error) {
	return findRow(ri.f.Name(), id)
}

func (ri *rowIndex) close() error { return ri.f.Close() }

// hasHash reports whether some row's id hashes like id: a row for id, but
// for a 64-bit hash collision. Start-up's re-index uses it, before compact,
// to skip files that have a row without reading the rows.
func (ri *rowIndex) hasHash(id string) bool {
	h := idHash(id)
	ri.mu.RLock()
	defer ri.mu.RUnlock()
	if _, ok := ri.recent[h]; ok {
		return true
	}
	_, ok := slices.BinarySearchFunc(ri.full, h, cmpEntry)
	return ok
}
