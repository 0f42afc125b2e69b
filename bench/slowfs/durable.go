package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// durable models what survives a power cut under the strictest reading of
// POSIX fsync: a file holds the bytes it had at its last fsync (none if it
// was never fsynced), and a directory holds the entries it had at its last
// fsync; nothing else was ever written to the disk. After cut, later fsyncs
// change nothing, and materialize writes the tree the cut left. Files are
// tracked by the backing inode, so hard links stay one file.
//
// No real file system keeps less (ext4, for one, writes a new file's name
// with its first fsync); a program that finds all it promised in this tree
// finds it after any power cut.
type durable struct {
	backing string

	mu    sync.Mutex
	cut   bool
	files map[uint64][]byte            // inode -> bytes at its last fsync
	dirs  map[string]map[string]uint64 // directory (relative) -> name -> inode at its last fsync
	isDir map[uint64]bool
}

func newDurable(backing string) *durable {
	return &durable{backing: backing, files: map[uint64][]byte{}, dirs: map[string]map[string]uint64{}, isDir: map[uint64]bool{}}
}

// syncFile records the bytes of the file at rel (relative to the backing
// directory) as durable.
func (d *durable) syncFile(rel string) {
	path := filepath.Join(d.backing, rel)
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	st, err := os.Lstat(path)
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.cut {
		d.files[inode(st)] = b
	}
}

// syncDir records the entries of the directory at rel as durable.
func (d *durable) syncDir(rel string) {
	ents, err := os.ReadDir(filepath.Join(d.backing, rel))
	if err != nil {
		return
	}
	names := map[string]uint64{}
	dirs := map[uint64]bool{}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		names[e.Name()] = inode(info)
		dirs[inode(info)] = e.IsDir()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return
	}
	d.dirs[rel] = names
	for ino, isDir := range dirs {
		d.isDir[ino] = isDir
	}
}

// syncAll records the whole backing tree as durable, as sync(2) would.
func (d *durable) syncAll() error {
	return filepath.WalkDir(d.backing, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.backing, path)
		if rel == "." {
			rel = ""
		}
		if e.IsDir() {
			d.syncDir(rel)
		} else if e.Type().IsRegular() {
			d.syncFile(rel)
		}
		return nil
	})
}

// cutPower freezes what is durable: nothing after it counts.
func (d *durable) cutPower() {
	d.mu.Lock()
	d.cut = true
	d.mu.Unlock()
}

// materialize writes the tree the cut left under dst, an empty directory.
func (d *durable) materialize(dst string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	first := map[uint64]string{}
	var walk func(rel string) error
	walk = func(rel string) error {
		for name, ino := range d.dirs[rel] {
			p := filepath.Join(rel, name)
			out := filepath.Join(dst, p)
			switch {
			case d.isDir[ino]:
				if err := os.Mkdir(out, 0o750); err != nil {
					return err
				}
				if err := walk(p); err != nil {
					return err
				}
			case first[ino] != "":
				if err := os.Link(filepath.Join(dst, first[ino]), out); err != nil {
					return err
				}
			default:
				if err := os.WriteFile(out, d.files[ino], 0o600); err != nil {
					return err
				}
				first[ino] = p
			}
		}
		return nil
	}
	if d.dirs[""] == nil {
		return errors.New("nothing durable: the root was never synced")
	}
	if err := walk(""); err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	return nil
}

func inode(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
