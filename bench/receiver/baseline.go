package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"cis490/receiver/datadir"
)

// baselineChunk is the read size of every baseline handler, the same as the
// receiver's pipeline chunk.
const baselineChunk = 256 << 10

// runBaseline serves the trivial handlers that show the machine's limits:
//
//	PUT /hash/<id>    sha256 of the body, nothing stored
//	PUT /write/<id>   write the body to a file and fsync it, no hash
//	PUT /serial/<id>  what a naive receiver does, one step after another:
//	                  sha256 and write chunk by chunk, fsync, link without
//	                  replace, fsync the directory, append the index row and
//	                  fsync the index; every upload pays for its own fsyncs
//
// It prints "ready <addr>" on stdout once it accepts connections and stops on
// SIGTERM or SIGINT.
func runBaseline(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	dir := fs.String("dir", "", "directory the write and serial handlers store into (required)")
	if err := fs.Parse(args); err != nil || *dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: receiverbench baseline --dir D [--listen ADDR]")
		return 2
	}
	b, err := newBaseline(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "baseline:", err)
		return 1
	}
	defer b.close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "baseline:", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /hash/{name}", b.hash)
	mux.HandleFunc("PUT /write/{name}", b.write)
	mux.HandleFunc("PUT /serial/{name}", b.serial)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.NewTextHandler(stderr, nil), slog.LevelDebug),
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; srv.Close() }()
	fmt.Fprintln(stdout, "ready", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "baseline:", err)
		return 1
	}
	return 0
}

// Directories below the baseline's -dir.
const (
	writeDir  = "write"
	serialDir = "serial"
)

type baseline struct {
	writeDir   string
	serialTmp  string
	serialDir  string
	serialDirF *os.File

	indexMu sync.Mutex // orders index writes; each upload fsyncs on its own
	index   *os.File

	bufs sync.Pool
}

func newBaseline(dir string) (*baseline, error) {
	b := &baseline{
		writeDir:  filepath.Join(dir, writeDir),
		serialTmp: datadir.New(filepath.Join(dir, serialDir)).Tmp(),
		serialDir: datadir.New(filepath.Join(dir, serialDir)).Store(),
	}
	b.bufs.New = func() any { p := make([]byte, baselineChunk); return &p }
	for _, d := range []string{b.writeDir, b.serialTmp, b.serialDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}
	var err error
	if b.serialDirF, err = os.Open(b.serialDir); err != nil {
		return nil, err
	}
	b.index, err = os.OpenFile(datadir.New(filepath.Join(dir, serialDir)).Index(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		b.serialDirF.Close()
		return nil, err
	}
	return b, nil
}

func (b *baseline) close() {
	b.serialDirF.Close()
	b.index.Close()
}

// hash answers after hashing the body.
func (b *baseline) hash(w http.ResponseWriter, r *http.Request) {
	bp := b.bufs.Get().(*[]byte)
	defer b.bufs.Put(bp)
	h := sha256.New()
	n, err := copyChunks(h, nil, r.Body, *bp)
	if err != nil || n != r.ContentLength {
		http.Error(w, "short body", http.StatusBadRequest)
		return
	}
	b.reply(w, r, h, n)
}

// write answers after writing the body to a file and fsyncing it.
func (b *baseline) write(w http.ResponseWriter, r *http.Request) {
	bp := b.bufs.Get().(*[]byte)
	defer b.bufs.Put(bp)
	f, err := os.Create(filepath.Join(b.writeDir, r.PathValue("name")))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	n, err := copyChunks(nil, f, r.Body, *bp)
	if err == nil && n != r.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b.reply(w, r, nil, n)
}

// serial stores the body the way a receiver without overlap or shared fsyncs
// would.
func (b *baseline) serial(w http.ResponseWriter, r *http.Request) {
	bp := b.bufs.Get().(*[]byte)
	defer b.bufs.Put(bp)
	name := r.PathValue("name")
	fail := func(err error) { http.Error(w, err.Error(), http.StatusInternalServerError) }
	f, err := os.CreateTemp(b.serialTmp, name+".*.part")
	if err != nil {
		fail(err)
		return
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	h := sha256.New()
	n, err := copyChunks(h, f, r.Body, *bp)
	if err == nil && n != r.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err == nil && sum != r.Header.Get("X-Content-SHA256") {
		err = errors.New("sha256 mismatch")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, filepath.Join(b.serialDir, name))
	}
	if err == nil {
		err = b.serialDirF.Sync()
	}
	if err == nil {
		line := `{"id":"` + name + `","host":"bench","sha256":"` + sum + `","bytes":` + strconv.FormatInt(n, 10) +
			`,"received_at":"` + time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + `","source":"receiver"}` + "\n"
		b.indexMu.Lock()
		_, err = b.index.WriteString(line)
		b.indexMu.Unlock()
	}
	if err == nil {
		err = b.index.Sync()
	}
	if err != nil {
		fail(err)
		return
	}
	b.reply(w, r, h, n)
}

// reply answers 201 with a body shaped like the receiver's, or 400 when the
// digest differs from the header.
func (b *baseline) reply(w http.ResponseWriter, r *http.Request, h hash.Hash, n int64) {
	want := r.Header.Get("X-Content-SHA256")
	if h != nil && hex.EncodeToString(h.Sum(nil)) != want {
		http.Error(w, "sha256 mismatch", http.StatusBadRequest)
		return
	}
	body := `{"status":"stored","id":"` + r.PathValue("name") + `","sha256":"` + want + `","bytes":` + strconv.FormatInt(n, 10) + "}\n"
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, body)
}

// copyChunks reads src in buf-sized chunks and hands each to h and then to
// f (either may be nil), one after the other.
func copyChunks(h hash.Hash, f io.Writer, src io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		m, err := io.ReadFull(src, buf)
		if m > 0 {
			if h != nil {
				h.Write(buf[:m])
			}
			if f != nil {
				if _, werr := f.Write(buf[:m]); werr != nil {
					return n, werr
				}
			}
			n += int64(m)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
