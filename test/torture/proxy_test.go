package torture

import (
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// faultKind is what the proxy does to one connection.
type faultKind int

const (
	faultNone      faultKind = iota
	faultReset               // reset both sides after some request bytes
	faultStall               // stop forwarding request bytes for a while
	faultDelay               // delay every chunk in both directions
	faultDropReply           // forward the request, reset at the first reply byte
)

func (k faultKind) String() string {
	return [...]string{"none", "reset", "stall", "delay", "drop-reply"}[k]
}

// fault is the plan for one connection.
type fault struct {
	kind  faultKind
	after int64         // request bytes forwarded before reset, stall or drop
	pause time.Duration // stall length or per-chunk delay
}

// faultProxy is a TCP proxy between the shippers and the receiver that
// injects faults into a share of the connections while faulty is on. The
// receiver behind it may change address (it listens on :0 and is restarted);
// with no upstream, or one that refuses, the client's connection is reset.
type faultProxy struct {
	ln       net.Listener
	upstream atomic.Pointer[string]
	faulty   atomic.Bool
	// stallMax bounds a stall; a stall longer than the receiver's body idle
	// timeout or the shipper's timeout_s ends the upload.
	stallMax time.Duration

	mu  sync.Mutex
	rng *rand.Rand
	// force, when set, is the plan of every connection (tests).
	force *fault

	// Faults that actually happened, by kind (a reset planned after more
	// bytes than the request holds never fires).
	counts [5]atomic.Int64
	conns  atomic.Int64

	quit    chan struct{}
	wg      sync.WaitGroup
	liveMu  sync.Mutex
	live    map[net.Conn]struct{}
	closing bool
}

func newFaultProxy(seed uint64, stallMax time.Duration) (*faultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{ln: ln, stallMax: stallMax, rng: rand.New(rand.NewPCG(seed, 0x70)), quit: make(chan struct{}), live: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// addr is the proxy's listening address.
func (p *faultProxy) addr() string { return p.ln.Addr().String() }

// setUpstream points new connections at addr ("" for none).
func (p *faultProxy) setUpstream(addr string) { p.upstream.Store(&addr) }

// injected is the number of faults that fired.
func (p *faultProxy) injected() (total int64, byKind map[string]int64) {
	byKind = map[string]int64{}
	for k := faultReset; k <= faultDropReply; k++ {
		n := p.counts[k].Load()
		byKind[k.String()] = n
		total += n
	}
	return total, byKind
}

func (p *faultProxy) close() {
	p.ln.Close()
	close(p.quit)
	p.liveMu.Lock()
	p.closing = true
	for c := range p.live {
		c.Close()
	}
	p.liveMu.Unlock()
	p.wg.Wait()
}

func (p *faultProxy) track(c net.Conn) bool {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	if p.closing {
		return false
	}
	p.live[c] = struct{}{}
	return true
}

func (p *faultProxy) untrack(c net.Conn) {
	p.liveMu.Lock()
	delete(p.live, c)
	p.liveMu.Unlock()
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

// pick draws the plan for a connection: with faults on, a little over half
// of the connections pass untouched.
func (p *faultProxy) pick() fault {
	if !p.faulty.Load() {
		return fault{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.force != nil {
		return *p.force
	}
	r := p.rng.IntN(100)
	switch {
	case r < 20:
		// Anywhere from inside the headers to a few MiB into the body,
		// counted over every request the connection carries.
		return fault{kind: faultReset, after: p.logUniform(4 << 20)}
	case r < 35:
		// Past a HEAD request, so the reply dropped is usually a PUT's.
		return fault{kind: faultDropReply, after: 2048}
	case r < 45:
		return fault{kind: faultStall, after: p.logUniform(2 << 20), pause: time.Duration(1 + p.rng.Int64N(int64(p.stallMax)))}
	case r < 55:
		return fault{kind: faultDelay, pause: time.Duration(1+p.rng.IntN(40)) * time.Millisecond}
	}
	return fault{}
}

// logUniform draws from [1, hi] with every power of two equally likely, so
// faults land in headers, early and late in bodies alike. p.mu is held.
func (p *faultProxy) logUniform(hi int64) int64 {
	return 1 + int64(math.Exp(p.rng.Float64()*math.Log(float64(hi))))
}

// reset closes c with SO_LINGER 0, so the peer sees a TCP RST.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (p *faultProxy) serve(client net.Conn) {
	if !p.track(client) {
		client.Close()
		return
	}
	defer p.untrack(client)
	up := p.upstream.Load()
	if up == nil || *up == "" {
		reset(client)
		return
	}
	server, err := net.DialTimeout("tcp", *up, 2*time.Second)
	if err != nil {
		reset(client)
		return
	}
	if !p.track(server) {
		server.Close()
		reset(client)
		return
	}
	defer p.untrack(server)
	f := p.pick()
	if f.kind == faultDelay {
		p.counts[faultDelay].Add(1)
	}
	var sent atomic.Int64 // request bytes forwarded
	var once sync.Once
	abort := func() { once.Do(func() { reset(client); reset(server) }) }
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // request: client -> receiver
		defer wg.Done()
		p.pipe(server, client, f, &sent, true)
		// The client finished sending (or left): half-close so the
		// receiver still answers a complete request.
		if tc, ok := server.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	go func() { // reply: receiver -> client
		defer wg.Done()
		if p.pipe(client, server, f, &sent, false) {
			abort()
		}
		once.Do(func() { client.Close(); server.Close() })
	}()
	wg.Wait()
	abort()
}

// pipe copies src to dst applying f; a planned fault fires only while
// faults are on, so connections kept alive past the fault phase turn clean.
// It reports whether a fault ended the
// copy (the caller resets both connections).
func (p *faultProxy) pipe(dst, src net.Conn, f fault, sent *atomic.Int64, request bool) (faulted bool) {
	buf := make([]byte, 32<<10)
	for {
		n, rerr := src.Read(buf)
		chunk := buf[:n]
		for len(chunk) > 0 {
			if f.kind == faultDelay && p.faulty.Load() && !p.wait(f.pause) {
				return true
			}
			if !request {
				if f.kind == faultDropReply && sent.Load() >= f.after && p.faulty.Load() {
					p.counts[faultDropReply].Add(1)
					reset(dst)
					reset(src)
					return true
				}
				if _, err := dst.Write(chunk); err != nil {
					return false
				}
				break
			}
			cur := sent.Load()
			if (f.kind == faultReset || f.kind == faultStall) && cur < f.after && cur+int64(len(chunk)) >= f.after && p.faulty.Load() {
				head := chunk[:f.after-cur]
				if _, err := dst.Write(head); err != nil {
					return false
				}
				sent.Add(int64(len(head)))
				chunk = chunk[len(head):]
				if f.kind == faultReset {
					p.counts[faultReset].Add(1)
					reset(dst)
					reset(src)
					return true
				}
				p.counts[faultStall].Add(1)
				if !p.wait(f.pause) {
					return true
				}
				continue
			}
			if _, err := dst.Write(chunk); err != nil {
				return false
			}
			sent.Add(int64(len(chunk)))
			break
		}
		if rerr != nil {
			return false
		}
	}
}

// wait pauses for d unless the proxy closes first.
func (p *faultProxy) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.quit:
		return false
	}
}
