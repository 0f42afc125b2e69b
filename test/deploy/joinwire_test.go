package deploy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// wireProxy sits between lab host and receiver on plain HTTP and keeps every
// byte the host sends. With cutJoin set, it lets the receiver answer a join,
// keeps that answer and closes the host's connection instead of passing it
// on: the answer is lost after the receiver committed it.
type wireProxy struct {
	t        *testing.T
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	sent    bytes.Buffer // host -> receiver, all connections
	cutJoin bool
	dropped []byte // the join answer that was cut
}

func newWireProxy(t *testing.T, upstream string) *wireProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wireProxy{t: t, ln: ln, upstream: upstream}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p
}

func (p *wireProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *wireProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.relay(c)
	}
}

func (p *wireProxy) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	var joinSeen sync.Mutex // held while the connection has not sent a join
	joined := false
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.sent.Write(buf[:n])
				p.mu.Unlock()
				if bytes.Contains(buf[:n], []byte("POST /v1/join ")) {
					joinSeen.Lock()
					joined = true
					joinSeen.Unlock()
				}
				server.Write(buf[:n])
			}
			if err != nil {
				server.(*net.TCPConn).CloseWrite()
				return
			}
		}
	}()
	var answer []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			joinSeen.Lock()
			cut := joined
			joinSeen.Unlock()
			p.mu.Lock()
			cut = cut && p.cutJoin
			p.mu.Unlock()
			if !cut {
				client.Write(buf[:n])
			} else if answer = append(answer, buf[:n]...); complete(answer) {
				p.mu.Lock()
				p.dropped, p.cutJoin = answer, false
				p.mu.Unlock()
				return // the host's connection closes unanswered
			}
		}
		if err != nil {
			return
		}
	}
}

// complete reports whether b holds a whole HTTP response with a
// Content-Length body.
func complete(b []byte) bool {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return false
	}
	m := regexp.MustCompile(`(?i)\r\ncontent-length: *(\d+)`).FindSubmatch(head)
	if m == nil {
		return false
	}
	n, _ := strconv.Atoi(string(m[1]))
	return len(body) >= n
}

// keyMaterial returns the ways a PEM private key could appear on the wire:
// its PEM text, its DER in base64, and the DER itself.
func keyMaterial(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM key", path)
	}
	b64 := base64.StdEncoding.EncodeToString(block.Bytes)
	return [][]byte{[]byte("PRIVATE KEY"), block.Bytes, []byte(b64[:48]), []byte(b64[len(b64)-48:])}
}

// TestJoinOverTheWire runs join and cert-renew with the real binaries over
// plain HTTP through a proxy that keeps every byte the host sends: no
// private key is ever among them. The proxy also loses the first join's
// answer after the receiver committed it: the host joins again with the
// same secret and key, the lost token no longer works, and another key is
// refused 409 already-joined.
func TestJoinOverTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	bin := buildBinaries(t)
	f := newFleet(t, bin, false, "")
	upstream := strings.TrimPrefix(f.url, "http://localhost")
	p := newWireProxy(t, "127.0.0.1"+upstream)
	args := f.hostAdd("lab7")
	for i, a := range args {
		if a == "--url" {
			args[i+1] = p.url()
		}
	}
	cfg, _, tlsDir := f.labHost("lab7", p.url())
	join := func() ([]byte, int) {
		return run(t, append(append([]string{f.shipper()}, args...), "--config", cfg, "--json")...)
	}

	p.mu.Lock()
	p.cutJoin = true
	p.mu.Unlock()
	if out, code := join(); code != 1 {
		t.Fatalf("join whose answer is lost: exit %d, %s; want 1", code, out)
	}
	keyPath := filepath.Join(tlsDir, "client.key")
	firstKey, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatalf("the key was not written before the request: %v", err)
	}
	p.mu.Lock()
	dropped := p.dropped
	p.mu.Unlock()
	_, body, _ := bytes.Cut(dropped, []byte("\r\n\r\n"))
	var lost struct{ Token string }
	if err := json.Unmarshal(body, &lost); err != nil || lost.Token == "" {
		t.Fatalf("the receiver's lost answer %q: %v", dropped, err)
	}

	if out, code := join(); code != 0 {
		t.Fatalf("join again with the same secret: exit %d, %s", code, out)
	}
	if again, _ := os.ReadFile(keyPath); !bytes.Equal(again, firstKey) {
		t.Fatal("the retry made a new key instead of reusing the one it wrote")
	}
	if out, code := run(t, f.shipper(), "--ping", "--json", "--config", cfg); code != 0 {
		t.Fatalf("--ping with the token of the second join: exit %d %s", code, out)
	}
	if code := pingStatus(t, f.url, lost.Token); code != http.StatusUnauthorized {
		t.Fatalf("ping with the lost token: %d, want 401", code)
	}

	keys := keyMaterial(t, keyPath)
	if out, code := run(t, f.shipper(), "cert-renew", "--force", "--json", "--config", cfg); code != 0 {
		t.Fatalf("cert-renew --force: exit %d %s", code, out)
	}
	keys = append(keys, keyMaterial(t, keyPath)...)
	p.mu.Lock()
	wire := append([]byte(nil), p.sent.Bytes()...)
	p.mu.Unlock()
	if !bytes.Contains(wire, []byte("POST /v1/join ")) || !bytes.Contains(wire, []byte("POST /v1/certs/renew ")) ||
		!bytes.Contains(wire, []byte("CERTIFICATE REQUEST")) {
		t.Fatalf("the proxy saw no join and renewal:\n%s", wire)
	}
	for _, k := range keys {
		if bytes.Contains(wire, k) {
			t.Fatalf("the bytes the host sent contain private key material %q", k[:min(len(k), 20)])
		}
	}

	os.Remove(keyPath)
	out, code := join()
	if code != 1 || !strings.Contains(string(out), "already-joined") {
		t.Fatalf("join with another key: exit %d, %s; want 1 already-joined", code, out)
	}
}

// pingStatus POSTs /v1/ping as lab7 with tok and returns the status.
func pingStatus(t *testing.T, base, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/ping", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Cis490-Host", "lab7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestJoinOverHTTPSNeedsAPin: without --ca-sha256 and without a ca_bundle,
// join over https is a usage error (exit 2) and sends nothing.
func TestJoinOverHTTPSNeedsAPin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	f := &fleet{t: t, bin: bin, dir: dir}
	cfg, _, _ := f.labHost("lab7", "https://localhost:1")
	out, code := run(t, f.shipper(), "join", "--url", "https://localhost:1", "--token", "cis490j_x", "--config", cfg, "--json")
	if code != 2 || !strings.Contains(string(out), "--ca-sha256") {
		t.Fatalf("join over https without a pin: exit %d, %s; want 2 naming --ca-sha256", code, out)
	}
}
