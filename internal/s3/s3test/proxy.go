package s3test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// Fault is what the proxy does to one request.
type Fault int

// Faults the proxy injects.
const (
	Pass          Fault = iota // forward unchanged
	InternalError              // answer 500 InternalError
	SlowDown                   // answer 503 SlowDown with Retry-After: 1
	ResetMidBody               // read part of the request body, then reset the connection
	WrongChecksum              // forward, then answer another x-amz-checksum-sha256
	Hang                       // read nothing more and never answer (until the client gives up)
)

// Proxy forwards to an S3 server and injects the fault its plan names for
// each request.
type Proxy struct {
	URL string
	srv *httptest.Server
	mu  sync.Mutex
	// plan returns the fault for the n-th request (from 0) of method.
	plan func(n int, r *http.Request) Fault
	n    int
	seen map[Fault]int
}

// NewProxy starts a proxy in front of upstream (a URL).
func NewProxy(t testing.TB, upstream string, plan func(n int, r *http.Request) Fault) *Proxy {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{plan: plan, seen: map[Fault]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = nil
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		f := p.plan(p.n, r)
		p.n++
		p.seen[f]++
		p.mu.Unlock()
		switch f {
		case InternalError:
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "<Error><Code>InternalError</Code><Message>injected</Message></Error>")
		case SlowDown:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
		case ResetMidBody:
			io.CopyN(io.Discard, r.Body, 1000)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
				conn.Close()
			}
		case WrongChecksum:
			rec := &checksumRewriter{ResponseWriter: w}
			rp.ServeHTTP(rec, r)
		case Hang:
			// Take the request and never answer: the connection stays open
			// until the client gives up and closes it.
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				io.Copy(io.Discard, conn)
				conn.Close()
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// SetPlan replaces the plan and restarts the request count.
func (p *Proxy) SetPlan(plan func(n int, r *http.Request) Fault) {
	p.mu.Lock()
	p.plan, p.n = plan, 0
	p.mu.Unlock()
}

// Injected returns how many requests got fault f.
func (p *Proxy) Injected(f Fault) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[f]
}

// checksumRewriter replaces the checksum of the answer.
type checksumRewriter struct {
	http.ResponseWriter
	wrote bool
}

func (c *checksumRewriter) WriteHeader(code int) {
	if !c.wrote {
		c.wrote = true
		c.Header().Set("X-Amz-Checksum-Sha256", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *checksumRewriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

// PutsOnly applies f to the first n object PUTs and passes everything else.
func PutsOnly(f Fault, n int) func(int, *http.Request) Fault {
	var mu sync.Mutex
	puts := 0
	return func(_ int, r *http.Request) Fault {
		if r.Method != http.MethodPut {
			return Pass
		}
		mu.Lock()
		defer mu.Unlock()
		puts++
		if puts <= n {
			return f
		}
		return Pass
	}
}
