package jsonl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxLine bounds one line; longer lines are reported as malformed.
const maxLine = 1 << 20

// ErrStop may be returned by a visit function to end a read early without
// error.
var ErrStop = errors.New("stop")

// Scan calls fn for every complete line of r, in order. A last line without
// its newline is torn (a crash mid-append) and is skipped; Scan returns
// torn=true in that case. fn's line is only valid during the call.
func Scan(r io.Reader, fn func(line []byte) error) (torn bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: gather it whole.
			buf := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull && len(buf) <= maxLine {
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		switch {
		case err == nil:
			if ferr := fn(line[:len(line)-1]); ferr != nil {
				if ferr == ErrStop {
					return false, nil
				}
				return false, ferr
			}
		case err == io.EOF:
			return len(line) > 0, nil
		case err == bufio.ErrBufferFull:
			return false, fmt.Errorf("line longer than %d bytes", maxLine)
		default:
			return false, err
		}
	}
}

// ScanFile is Scan over the named file. A missing file has no lines.
func ScanFile(path string, fn func(line []byte) error) (torn bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	torn, err = Scan(f, fn)
	if err != nil {
		return torn, fmt.Errorf("read %s: %w", path, err)
	}
	return torn, nil
}

// ScanBackward calls fn for the complete lines of the named file from the
// last to the first, reading fixed-size blocks from the end, so the cost
// follows how far back fn reads, not the file's length. fn returns ErrStop
// to end early. A torn last line is skipped. A missing file has no lines.
func ScanBackward(path string, fn func(line []byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	const block = 64 << 10
	end := st.Size()
	var carry []byte // bytes after the last newline seen, i.e. a partial line
	first := true
	buf := make([]byte, block)
	for end > 0 {
		n := int64(block)
		if end < n {
			n = end
		}
		start := end - n
		if _, err := f.ReadAt(buf[:n], start); err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", path, err)
		}
		chunk := append(buf[:n:n], carry...)
		// Walk the newlines of chunk from the right.
		for {
			i := bytes.LastIndexByte(chunk, '\n')
			if i < 0 {
				break
			}
			tail := chunk[i+1:]
			if first {
				first = false // the bytes after the final newline are a torn line
			} else if err := fn(tail); err != nil {
				if err == ErrStop {
					return nil
				}
				return err
			}
			chunk = chunk[:i]
		}
		if len(chunk) > maxLine {
			return fmt.Errorf("read %s: line longer than %d bytes", path, maxLine)
		}
		carry = append([]byte(nil), chunk...)
		end = start
	}
	if !first { // the text before the first newline is the first line
		if err := fn(carry); err != nil && err != ErrStop {
			return err
		}
	}
	return nil
}

// RepairTorn truncates a torn last line off the named file and fsyncs it. It
// returns the number of bytes removed (0 when the file ends in a newline, is
// empty, or does not exist).
func RepairTorn(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	const block = 64 << 10
	buf := make([]byte, block)
	end := size
	for end > 0 {
		n := int64(block)
		if end < n {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep := end - n + int64(i) + 1
			if keep == size {
				return 0, nil
			}
			return size - keep, truncateSync(f, keep)
		}
		end -= n
	}
	return size, truncateSync(f, 0)
}

func truncateSync(f *os.File, n int64) error {
	if err := f.Truncate(n); err != nil {
		return err
	}
	return f.Sync()
}
