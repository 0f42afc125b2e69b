package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"cis490/internal/pki"
	"cis490/internal/wire"
	"cis490/receiver/registry"
)

// cpuTime is the process's user + system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkJoinHostSide is the host's CPU for a join: an ECDSA P-256 key
// and a CSR signed with it (docs/BENCHMARKS.md, Joining).
func BenchmarkJoinHostSide(b *testing.B) {
	start := cpuTime(b)
	for i := 0; i < b.N; i++ {
		k, err := pki.NewKey()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pki.NewCSR(k, "lab7"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkJoinReceiverSide is the receiver's CPU for a join through the
// handler: the secret, the CSR's checks, the signature, the registry entry
// written and fsynced (one host added per join; the host's CSR is made
// outside the timed loop).
func BenchmarkJoinReceiverSide(b *testing.B) {
	je := newJoinEnvTB(b)
	type prepared struct {
		secret string
		body   []byte
	}
	reqs := make([]prepared, b.N)
	for i := range reqs {
		host := fmt.Sprintf("h%d", i)
		_, secret, err := registry.Add(je.dir, host, time.Hour, je.now)
		if err != nil {
			b.Fatal(err)
		}
		k, _ := pki.NewKey()
		csr, _ := pki.NewCSR(k, host)
		s := string(csr)
		body, _ := json.Marshal(JoinRequest{Host: host, CSR: &s})
		reqs[i] = prepared{secret, body}
	}
	je.reg.Refresh()
	b.ResetTimer()
	start := cpuTime(b)
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest(http.MethodPost, wire.JoinPath, bytes.NewReader(reqs[i].body))
		r.Header.Set("Authorization", "Bearer "+reqs[i].secret)
		if w := je.do(r); w.Code != http.StatusCreated {
			b.Fatalf("join: %d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkRegistryTokenLookup is what a registry token adds to the
// authentication of every request: a sha256 and a map lookup under a read
// lock, with 1000 hosts in the registry.
func BenchmarkRegistryTokenLookup(b *testing.B) {
	dir := b.TempDir()
	var tok string
	for i := 0; i < 1000; i++ {
		t := fmt.Sprintf("%s%064d", registry.TokenPrefix, i)
		if _, err := registry.Update(dir, fmt.Sprintf("h%d", i), func(e *registry.Entry, _ bool) error {
			e.TokenSHA256 = registry.Sum(t)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		tok = t
	}
	v, err := registry.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if h, ok := v.TokenHost(tok); !ok || v.State(h) != registry.Listed {
			b.Fatal("lookup failed")
		}
	}
}

// TestFiftyHostsJoinAtOnce: 50 hosts joining at the same instant through a
// real HTTP server all get 201 and working, distinct tokens.
func TestFiftyHostsJoinAtOnce(t *testing.T) {
	je := newJoinEnv(t, false, nil)
	srv := httptest.NewServer(je.h)
	defer srv.Close()
	const n = 50
	secrets := make([]string, n)
	for i := range secrets {
		secrets[i] = je.add(fmt.Sprintf("lab%d", i))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	tokens := make([]string, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			host := fmt.Sprintf("lab%d", i)
			k, _ := pki.NewKey()
			csr, _ := pki.NewCSR(k, host)
			s := string(csr)
			body, _ := json.Marshal(JoinRequest{Host: host, CSR: &s})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+wire.JoinPath, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+secrets[i])
			<-start
			resp, err := srv.Client().Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var reply JoinReply
			if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&reply) != nil {
				errs <- fmt.Errorf("join of %s: %d", host, resp.StatusCode)
				return
			}
			tokens[i] = reply.Token
		}(i)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for i, tok := range tokens {
		if tok == "" || seen[tok] {
			t.Fatalf("host %d: token %q empty or repeated", i, tok)
		}
		seen[tok] = true
		if w := je.do(pingAs(tok, fmt.Sprintf("lab%d", i))); w.Code != http.StatusOK {
			t.Fatalf("ping of lab%d with its token: %d", i, w.Code)
		}
	}
}

// BenchmarkUploadAuth compares a 64 KiB episode PUT through the handler
// (stored and fsynced) authenticated by an [auth.hosts] token with one
// authenticated by a registry token among 1000 registry hosts: the
// registry's share of an upload.
func BenchmarkUploadAuth(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 64<<10)
	for _, tc := range []struct {
		name     string
		registry bool
	}{{"config-token", false}, {"registry-token", true}} {
		b.Run(tc.name, func(b *testing.B) {
			je := newJoinEnvTB(b)
			je.h.o.Gate = fakeGate{}
			tok, host := lab1Token, "lab1"
			if tc.registry {
				for i := 0; i < 1000; i++ {
					h := fmt.Sprintf("h%d", i)
					t := fmt.Sprintf("%s%064d", registry.TokenPrefix, i)
					if _, err := registry.Update(je.dir, h, func(e *registry.Entry, _ bool) error {
						e.TokenSHA256 = registry.Sum(t)
						return nil
					}); err != nil {
						b.Fatal(err)
					}
					tok, host = t, h
				}
				je.reg.Refresh()
			}
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := putReq(fmt.Sprintf("ep-%d", i), body)
				r.Header.Set("Authorization", "Bearer "+tok)
				r.Header.Set(wire.HeaderHost, host)
				if w := je.do(r); w.Code != http.StatusCreated {
					b.Fatalf("put: %d %s", w.Code, w.Body)
				}
			}
		})
	}
}
