package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cis490/internal/config"
)

// The answers net/http gives itself, before any handler (a request it
// cannot parse, oversized headers, an unknown transfer encoding or HTTP
// version, an unknown Expect), come in the JSON error shape like every other
// refusal (SPEC §4), over plain HTTP and over in-process TLS alike.
func TestNetHTTPOwnAnswersAreJSON(t *testing.T) {
	for _, overTLS := range []bool{false, true} {
		name := "plain HTTP"
		if overTLS {
			name = "in-process TLS"
		}
		t.Run(name, func(t *testing.T) {
			cfg := subjectConfig(t, "127.0.0.1:0")
			cfg.Auth.ClientSubjectHeader = ""
			dial := func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }
			if overTLS {
				p := newPKI(t)
				srvCert, srvKey := p.issue("server", "receiver", nil, []net.IP{net.IPv4(127, 0, 0, 1)}, x509.ExtKeyUsageServerAuth)
				cfg.TLS = config.TLS{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: filepath.Join(p.dir, "ca.pem")}
				roots := x509.NewCertPool()
				roots.AddCert(p.ca.Cert)
				dial = func(addr string) (net.Conn, error) {
					return tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{p.client("lab1")}})
				}
			}
			addr := startInProcess(t, cfg)
			for _, tc := range []struct {
				name, req string
				want      int
			}{
				{"malformed request line", "GARBAGE\r\n\r\n", 400},
				{"oversized headers", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 80<<10) + "\r\n\r\n", 431},
				{"unknown transfer encoding", "PUT /v1/ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
				{"unsupported HTTP version", "GET /healthz HTTP/2.5\r\nHost: x\r\n\r\n", 505},
				{"unknown expectation", "PUT /v1/ping HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 1\r\n\r\n", 417},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c, err := dial(addr)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					io.WriteString(c, tc.req)
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					var body struct{ Error, Detail string }
					if resp.StatusCode != tc.want || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &body) != nil || body.Error == "" || body.Detail == "" {
						t.Errorf("answer %d %q %q, want %d in the JSON error shape", resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.want)
					}
				})
			}
		})
	}
}

// "authentication is off" is warned only when no credential at all is
// checked: with the subject header on a loopback listener, clients are
// identified, and the log says so instead.
func TestAuthOffWarningOnlyWhenNothingIsChecked(t *testing.T) {
	for _, tc := range []struct {
		name    string
		subject string
		wantOff bool
	}{
		{"subject header, no token", "X-Client-Subject", false},
		{"nothing", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := subjectConfig(t, "127.0.0.1:0")
			cfg.Auth.TokenFile = ""
			cfg.Auth.ClientSubjectHeader = tc.subject
			var logs safeBuffer
			ctx, cancel := context.WithCancel(context.Background())
			bound := make(chan net.Addr, 1)
			errc := make(chan error, 1)
			go func() {
				errc <- serve(ctx, cfg, serveOptions{log: slog.New(slog.NewTextHandler(&logs, nil)), bound: bound})
			}()
			select {
			case <-bound:
			case err := <-errc:
				t.Fatalf("serve: %v", err)
			}
			cancel()
			<-errc
			if got := strings.Contains(logs.String(), "authentication is off"); got != tc.wantOff {
				t.Errorf("warned that authentication is off: %v, want %v; log:\n%s", got, tc.wantOff, logs.String())
			}
		})
	}
}

// safeBuffer is a bytes.Buffer for a logger written from several
// goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
