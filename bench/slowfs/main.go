// Command slowfs mounts a directory through FUSE with slow cache flushes, so
// the receiver benchmark can run on storage whose fsync costs milliseconds
// (an SD card or an NVMe drive on the Pi) on any Linux machine.
//
//	slowfs [--flush 2ms] BACKING MOUNTPOINT
//
// It passes everything through to BACKING (go-fuse's loopback file system)
// except that every fsync and fdatasync, of a file or of a directory, first
// does the real fsync on BACKING and then waits for an emulated device cache
// flush of --flush. Flushes are serialised like a device's: one is in flight
// at a time, and every request that arrives while one is in flight is served
// by the next one, which starts when the current one ends (the way the Linux
// block layer merges pending flushes). close(2) (FUSE FLUSH) is not a device
// cache flush and stays fast.
//
// It prints "ready" on stdout once the mount is up and unmounts on SIGTERM or
// SIGINT. It lives in its own module so that go-fuse never becomes a
// dependency of the product.
//
// The same passthrough, mounted by its tests with a model of what a power
// cut keeps (durable.go), checks the receiver's durability promise across
// power cuts (powercut_test.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("slowfs", flag.ContinueOnError)
	flags.SetOutput(stderr)
	delay := flags.Duration("flush", 2*time.Millisecond, "time of one emulated device cache flush")
	if err := flags.Parse(args); err != nil || flags.NArg() != 2 || *delay < 0 || *delay > time.Second {
		fmt.Fprintln(stderr, "usage: slowfs [--flush 2ms] BACKING MOUNTPOINT")
		return 2
	}
	backing, mnt := flags.Arg(0), flags.Arg(1)
	dev := &device{delay: *delay, sleep: time.Sleep}
	dev.cond = sync.NewCond(&dev.mu)
	server, err := mount(backing, mnt, dev, nil)
	if err != nil {
		fmt.Fprintln(stderr, "slowfs:", err)
		return 1
	}
	fmt.Fprintln(stdout, "ready")
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		server.Unmount()
	}()
	server.Wait()
	fmt.Fprintf(stderr, "slowfs: %d device flushes for %d fsync requests\n", dev.flushes, dev.requests)
	return 0
}

// device is the emulated cache flush of one storage device.
type device struct {
	delay time.Duration
	// sleep waits out one flush (time.Sleep; tests hold it).
	sleep func(time.Duration)

	mu       sync.Mutex
	cond     *sync.Cond
	running  bool
	started  uint64 // flushes started
	done     uint64 // the latest flush that has ended
	flushes  uint64
	requests uint64
}

// flush returns once a device flush that started after the call has ended.
func (d *device) flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests++
	want := d.started + 1 // a flush in flight began before this request: wait for the next
	for d.done < want {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		d.flushes++
		d.mu.Unlock()
		d.sleep(d.delay)
		d.mu.Lock()
		d.done = d.started
		d.running = false
		d.cond.Broadcast()
	}
}

// mount mounts backing at mnt with dev's flushes; with track, every fsync
// also records what it made durable (see durable).
func mount(backing, mnt string, dev *device, track *durable) (*fuse.Server, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		return nil, err
	}
	root := &fs.LoopbackRoot{Path: backing, Dev: uint64(st.Dev)}
	newNode := func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, dev: dev, track: track}
	}
	//lint:ignore SA1019 NewNode still makes every node of the loopback ours in v2.12.1
	root.NewNode = newNode
	rootNode := newNode(root, nil, "", &st)
	root.RootNode = rootNode
	sec := time.Second
	server, err := fs.Mount(mnt, rootNode, &fs.Options{
		AttrTimeout:  &sec,
		EntryTimeout: &sec,
		MountOptions: fuse.MountOptions{FsName: "slowfs:" + backing, Name: "slowfs", DirectMount: true},
	})
	if err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	return server, nil
}

// node is a loopback node whose fsyncs pay for a device flush.
type node struct {
	fs.LoopbackNode
	dev   *device
	track *durable // nil unless a power cut is modelled
}

// path is the node's path relative to the root.
func (n *node) path() string { return n.EmbeddedInode().Path(nil) }

var (
	_ fs.NodeFsyncer        = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
)

// Fsync fsyncs the backing file, then waits for a device flush.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	var errno syscall.Errno
	switch h := f.(type) {
	case fs.FileFsyncer:
		errno = h.Fsync(ctx, flags)
	case fs.FileFsyncdirer:
		errno = h.Fsyncdir(ctx, flags)
	default:
		errno = syscall.ENOTSUP
	}
	if errno == 0 {
		n.dev.flush()
		if n.track != nil {
			if _, isDir := f.(fs.FileFsyncdirer); isDir {
				n.track.syncDir(n.path())
			} else {
				n.track.syncFile(n.path())
			}
		}
	}
	return errno
}

// OpendirHandle wraps the loopback directory stream so that a directory
// fsync also waits for a device flush.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	h, ff, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dir{h: h, node: n}, ff, 0
}

// dir is an open directory of the loopback with slow fsyncs.
type dir struct {
	h    fs.FileHandle
	node *node
}

var (
	_ fs.FileReaddirenter = (*dir)(nil)
	_ fs.FileSeekdirer    = (*dir)(nil)
	_ fs.FileReleasedirer = (*dir)(nil)
	_ fs.FileFsyncdirer   = (*dir)(nil)
)

// Readdirent passes through.
func (d *dir) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if r, ok := d.h.(fs.FileReaddirenter); ok {
		return r.Readdirent(ctx)
	}
	return nil, syscall.ENOTSUP
}

// Seekdir passes through.
func (d *dir) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if s, ok := d.h.(fs.FileSeekdirer); ok {
		return s.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

// Releasedir passes through.
func (d *dir) Releasedir(ctx context.Context, flags uint32) {
	if r, ok := d.h.(fs.FileReleasedirer); ok {
		r.Releasedir(ctx, flags)
	}
}

// Fsyncdir fsyncs the backing directory, then waits for a device flush.
func (d *dir) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	errno := syscall.Errno(syscall.ENOTSUP)
	if s, ok := d.h.(fs.FileFsyncdirer); ok {
		errno = s.Fsyncdir(ctx, flags)
	}
	if errno == 0 {
		d.node.dev.flush()
		if d.node.track != nil {
			d.node.track.syncDir(d.node.path())
		}
	}
	return errno
}
