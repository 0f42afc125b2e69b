package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"cis490/internal/wire"
)

// net/http answers some malformed requests itself, before any handler runs
// (400 for a request it cannot parse, 431 for oversized headers, 501 for an
// unknown transfer encoding, 505 for an unsupported HTTP version, 417 for an
// unknown Expect), as text/plain. JSONErrors rewrites those answers into the
// JSON error shape of every other refusal (SPEC §4), on a plain-HTTP
// listener: the answers are recognised by net/http's fixed header block, which
// no handler of this package writes. On a TLS listener, pass the TLS
// config: the listener then terminates TLS itself, so the rewriting sits
// above the encryption, and the server must use TLSConnContext and a
// handler wrapped in WithTLSState to see the connection's TLS state.
func JSONErrors(ln net.Listener, tlsCfg *tls.Config) net.Listener {
	return jsonErrorListener{ln, tlsCfg}
}

type jsonErrorListener struct {
	net.Listener
	tls *tls.Config
}

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.tls != nil {
		c = tls.Server(c, l.tls)
	}
	return &jsonErrorConn{Conn: c}, nil
}

type tlsConnKey struct{}

// TLSConnContext is an http.Server ConnContext that keeps the *tls.Conn
// beneath a JSONErrors connection in the request context, where net/http
// itself no longer sees it.
func TLSConnContext(ctx context.Context, c net.Conn) context.Context {
	if jc, ok := c.(*jsonErrorConn); ok {
		if tc, ok := jc.Conn.(*tls.Conn); ok {
			return context.WithValue(ctx, tlsConnKey{}, tc)
		}
	}
	return ctx
}

// WithTLSState fills r.TLS from the connection TLSConnContext kept, so the
// handlers check client certificates exactly as when net/http terminates
// TLS. A connection whose handshake is not complete leaves r.TLS nil; it
// cannot have carried a request.
func WithTLSState(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if tc, ok := r.Context().Value(tlsConnKey{}).(*tls.Conn); ok {
				if st := tc.ConnectionState(); st.HandshakeComplete {
					r.TLS = &st
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

type jsonErrorConn struct{ net.Conn }

// netHTTPErrorHeaders follows the status line of net/http's own error
// answers.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// netHTTPCodes are the stable codes of the answers net/http writes itself.
var netHTTPCodes = map[int]string{
	http.StatusBadRequest:                  wire.CodeBadRequest,
	http.StatusRequestHeaderFieldsTooLarge: wire.CodeHeadersTooLarge,
	http.StatusNotImplemented:              wire.CodeNotImplemented,
	http.StatusHTTPVersionNotSupported:     wire.CodeHTTPVersionNotSupported,
	http.StatusExpectationFailed:           wire.CodeExpectationFailed,
}

func (c *jsonErrorConn) Write(p []byte) (int, error) {
	if out, ok := rewriteNetHTTPError(p); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// rewriteNetHTTPError returns the JSON form of one of net/http's own error
// answers, or ok=false for anything else.
func rewriteNetHTTPError(p []byte) (out []byte, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !found || len(rest) < 4 {
		return nil, false
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil {
		return nil, false
	}
	name, known := netHTTPCodes[code]
	if !known {
		return nil, false
	}
	detail := "only Expect: 100-continue is supported"
	if code != http.StatusExpectationFailed {
		line, body, found := bytes.Cut(rest, []byte(netHTTPErrorHeaders))
		if !found || bytes.Contains(line, []byte("\r\n")) {
			return nil, false
		}
		detail = string(body)
	}
	b, _ := json.Marshal(map[string]string{"error": name, "detail": detail})
	b = append(b, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		code, http.StatusText(code), len(b), b), true
}
