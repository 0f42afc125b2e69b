package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cis490/internal/config"
	"cis490/internal/wire"
)

func TestSecurityIsLoopback(t *testing.T) {
	cases := []struct {
		name string
		addr net.Addr
		want bool
	}{
		{"127.0.0.1", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, true},
		{"127.0.0.2 is loopback too", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, true},
		{"::1", &net.TCPAddr{IP: net.IPv6loopback}, true},
		{"IPv4-mapped loopback", &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1")}, true},
		{"0.0.0.0 takes every interface", &net.TCPAddr{IP: net.IPv4zero}, false},
		{":: takes every interface", &net.TCPAddr{IP: net.IPv6unspecified}, false},
		{"a LAN address", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 2)}, false},
		{"a WireGuard address", &net.TCPAddr{IP: net.IPv4(10, 8, 0, 1)}, false},
		{"no IP", &net.TCPAddr{}, false},
		{"a unix socket", &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := isLoopback(tc.addr); got != tc.want {
				t.Errorf("isLoopback(%v) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
}

// nonLoopbackIPv4 returns an address of this machine that is not loopback,
// or "" when it has none.
func nonLoopbackIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// subjectConfig is a receiver with a shared token and client_subject_header
// set, listening on listen.
func subjectConfig(t *testing.T, listen string) config.Receiver {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("subject-test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultReceiver()
	cfg.Server.DataDir, cfg.Server.Listen, cfg.Server.MinFreeBytes = t.TempDir(), listen, 0
	cfg.VersionGate.Enabled = false
	cfg.Auth.TokenFile = tok
	cfg.Auth.ClientSubjectHeader = "X-Client-Subject"
	return cfg
}

// putWithSubject PUTs a small episode for host lab2, with subject as the
// X-Client-Subject header when it is not empty.
func putWithSubject(t *testing.T, addr, id, subject string) int {
	t.Helper()
	body := []byte("subject " + id)
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+wire.EpisodeURLPath(id), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer subject-test-token")
	req.Header.Set(wire.HeaderHost, "lab2")
	req.Header.Set(wire.HeaderSHA256, sha(body))
	if subject != "" {
		req.Header.Set("X-Client-Subject", subject)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSecuritySubjectHeaderHonouredOnlyOnLoopback runs serve itself: on
// 127.0.0.1 the subject header is required and binds the host; on the
// machine's own non-loopback address (when it has one; the connection
// still stays on this machine) a forged header is ignored, so it can
// neither name a host nor lock one out.
func TestSecuritySubjectHeaderHonouredOnlyOnLoopback(t *testing.T) {
	t.Run("loopback listener", func(t *testing.T) {
		addr := startInProcess(t, subjectConfig(t, "127.0.0.1:0"))
		for _, tc := range []struct {
			name, subject string
			want          int
		}{
			{"no subject is 401", "", 401},
			{"forged subject of another host is 403", "CN=lab9", 403},
			{"subject of the host is stored", "CN=lab2,O=Lab", 201},
		} {
			if got := putWithSubject(t, addr, "ep-"+strings.Fields(tc.name)[0], tc.subject); got != tc.want {
				t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
			}
		}
	})
	t.Run("non-loopback listener", func(t *testing.T) {
		ip := nonLoopbackIPv4()
		if ip == "" {
			t.Skip("this machine has no non-loopback IPv4 address; TestSecurityIsLoopback and api.TestClientSubjectHeader cover the rule")
		}
		addr := startInProcess(t, subjectConfig(t, net.JoinHostPort(ip, "0")))
		if got := putWithSubject(t, addr, "ep-forged", "CN=lab9"); got != 201 {
			t.Errorf("forged subject: status %d, want 201 (header ignored)", got)
		}
		if got := putWithSubject(t, addr, "ep-none", ""); got != 201 {
			t.Errorf("no subject: status %d, want 201 (header not required)", got)
		}
	})
}

// TestSecurityOversizedHeaders checks the real server's header limit: a
// request whose headers pass 64 KiB is refused with 431 before any handler
// runs, and one just under it is served.
func TestSecurityOversizedHeaders(t *testing.T) {
	cfg := subjectConfig(t, "127.0.0.1:0")
	cfg.Auth.ClientSubjectHeader = ""
	addr := startInProcess(t, cfg)
	cases := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"one 60 KiB header is served", map[string]string{"X-Pad": strings.Repeat("a", 60<<10)}, 201},
		{"one 80 KiB header", map[string]string{"X-Pad": strings.Repeat("a", 80<<10)}, 431},
		{"an 80 KiB token", map[string]string{"Authorization": "Bearer " + strings.Repeat("t", 80<<10)}, 431},
		{"many small headers past 64 KiB", func() map[string]string {
			m := map[string]string{}
			for i := 0; i < 1200; i++ {
				m["X-Pad-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strings.Repeat("y", i/26)] = strings.Repeat("v", 60)
			}
			return m
		}(), 431},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte{byte(i)}
			req, _ := http.NewRequest(http.MethodPut, "http://"+addr+wire.EpisodeURLPath("ep-h"+string(rune('a'+i))), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer subject-test-token")
			req.Header.Set(wire.HeaderHost, "lab2")
			req.Header.Set(wire.HeaderSHA256, sha(body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if ents, _ := os.ReadDir(filepath.Join(cfg.Server.DataDir, "store")); len(ents) != 1 {
		t.Errorf("store holds %d files, want only the served request's", len(ents))
	}
}
