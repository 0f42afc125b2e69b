package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// corpus is a set of random bodies of one size with their digests, made
// once before any timed run. Uploads cycle through the bodies; the receiver
// stores every upload under its own id, so repeating content costs the same
// as fresh content.
type corpus struct {
	size   int
	bodies [][]byte
	sums   []string
}

// newCorpus makes distinct deterministic random bodies of size bytes.
func newCorpus(size, distinct int, seed uint64) corpus {
	c := corpus{size: size}
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'c', 'i', 's', '4', '9', '0'})
	for i := 0; i < distinct; i++ {
		b := make([]byte, size)
		rng.Read(b)
		s := sha256.Sum256(b)
		c.bodies = append(c.bodies, b)
		c.sums = append(c.sums, hex.EncodeToString(s[:]))
	}
	return c
}

// upload is one prepared request: the request head and the body to send.
type upload struct {
	head []byte
	body []byte
}

// benchCommit is sent as the code commit; the receiver runs with the gate off.
const benchCommit = "0123456789abcdef0123456789abcdef01234567"

// prepare builds count uploads whose paths are prefix + id + ".tar.zst". The
// heads, digests included, are built here, outside the timed region.
func prepare(c corpus, count int, prefix, idBase, token string) []upload {
	ups := make([]upload, count)
	for i := range ups {
		k := i % len(c.bodies)
		id := fmt.Sprintf("%s-%05d", idBase, i)
		head := "PUT " + prefix + id + ".tar.zst HTTP/1.1\r\n" +
			"Host: 127.0.0.1\r\n" +
			"User-Agent: receiverbench\r\n" +
			"Content-Length: " + strconv.Itoa(c.size) + "\r\n" +
			"X-Content-SHA256: " + c.sums[k] + "\r\n" +
			"X-Cis490-Host: bench\r\n" +
			"X-Cis490-Code-Commit: " + benchCommit + "\r\n"
		if token != "" {
			head += "Authorization: Bearer " + token + "\r\n"
		}
		head += "\r\n"
		ups[i] = upload{head: []byte(head), body: c.bodies[k]}
	}
	return ups
}

// load sends ups to addr over clients keep-alive connections, each client
// one upload at a time, and returns the time from the first request to the
// last answer. Every answer must be 200 or 201.
func load(addr string, ups []upload, clients int) (time.Duration, error) {
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return 0, err
		}
		conns[i] = c
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			if err := client(c, addr, ups, &next); err != nil {
				errOnce.Do(func() { firstErr = err })
				next.Store(int64(len(ups))) // stop the other clients
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	return elapsed, firstErr
}

// client runs uploads until none are left. It writes the head and the body
// with one writev and reads the answer; a server that closes the connection
// gets a new one.
func client(c net.Conn, addr string, ups []upload, next *atomic.Int64) error {
	defer func() { c.Close() }()
	br := bufio.NewReaderSize(c, 4096)
	for {
		i := next.Add(1) - 1
		if i >= int64(len(ups)) {
			return nil
		}
		u := ups[i]
		bufs := net.Buffers{u.head, u.body}
		if _, err := bufs.WriteTo(c); err != nil {
			return fmt.Errorf("upload %d: %w", i, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("upload %d: %w", i, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("upload %d: %s: %s", i, resp.Status, body)
		}
		if resp.Close {
			c.Close()
			if c, err = net.Dial("tcp", addr); err != nil {
				return err
			}
			br.Reset(c)
		}
	}
}
