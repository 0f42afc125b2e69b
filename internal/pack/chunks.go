package pack

import (
	"context"
)

// chunks hands byte buffers from one producer goroutine to one consumer
// goroutine through a fixed set of buffers, so a pipeline of stages uses
// constant memory however much passes through it. The producer fills a
// buffer and sends it; the consumer processes it and gives it back.
type chunks struct {
	ctx  context.Context
	free chan []byte // empty buffers, owned by nobody
	full chan []byte // filled buffers, closed by the producer when done
	cur  []byte      // the producer's buffer being filled, or nil
}

// newChunks returns a pipe of n buffers of size bytes each. Waits on either
// side end when ctx is done.
func newChunks(ctx context.Context, n, size int) *chunks {
	c := &chunks{ctx: ctx, free: make(chan []byte, n), full: make(chan []byte, n)}
	for range n {
		c.free <- make([]byte, 0, size)
	}
	return c
}

// space returns the unfilled tail of the producer's current buffer, never
// empty, sending a full buffer on and waiting for a free one as needed. The
// caller fills a prefix of it and reports its length with commit.
func (c *chunks) space() ([]byte, error) {
	if c.cur != nil && len(c.cur) == cap(c.cur) {
		c.full <- c.cur // never blocks: full has room for every buffer
		c.cur = nil
	}
	if c.cur == nil {
		select {
		case c.cur = <-c.free:
		case <-c.ctx.Done():
			return nil, context.Cause(c.ctx)
		}
	}
	return c.cur[len(c.cur):cap(c.cur)], nil
}

// commit records that the producer filled n bytes of the last space.
func (c *chunks) commit(n int) { c.cur = c.cur[:len(c.cur)+n] }

// Write copies b into the pipe.
func (c *chunks) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		s, err := c.space()
		if err != nil {
			return written, err
		}
		n := copy(s, b)
		c.commit(n)
		b, written = b[n:], written+n
	}
	return written, nil
}

// closeWrite sends the partly filled buffer, if any, and tells the consumer
// that nothing more follows. The producer calls it exactly once, also on
// failure, so the consumer never waits forever.
func (c *chunks) closeWrite() {
	if len(c.cur) > 0 {
		c.full <- c.cur
	}
	c.cur = nil
	close(c.full)
}

// next returns the next filled buffer for the consumer, or ok false once the
// producer has closed the pipe and every buffer was taken, or when ctx ends.
func (c *chunks) next() (b []byte, ok bool) {
	select {
	case b, ok = <-c.full:
		return b, ok
	case <-c.ctx.Done():
		return nil, false
	}
}

// release gives a buffer obtained from next back to the producer.
func (c *chunks) release(b []byte) { c.free <- b[:0] }
