// Package s3test runs a real S3 server (versitygw) on loopback for tests,
// and a fault-injecting proxy in front of any S3 server for what a real
// server will not do on demand: 500s, SlowDown, resets mid-body, wrong
// checksums, a store that hangs.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cis490/internal/s3"
)

// Credentials of every test server.
const (
	AccessKey = "cis490test"
	SecretKey = "cis490testsecret"
)

// Binary returns the path of versitygw: on PATH or in $(go env GOPATH)/bin
// (where .ci/run installs it), or "" when it is in neither.
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// Server is a running versitygw.
type Server struct {
	t    testing.TB
	Dir  string // the posix backend's root: one directory per bucket
	Addr string // host:port
	// Scheme is "http", or "https" when started with a certificate.
	Scheme string
	cert   [2]string
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *bytes.Buffer
}

// Options tune Start.
type Options struct {
	// CertFile and KeyFile serve TLS.
	CertFile, KeyFile string
}

// Start runs versitygw on a free loopback port and waits until it answers;
// it skips the test, saying why, when versitygw is not installed.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0; .ci/run does)")
	}
	s := &Server{t: t, Dir: t.TempDir(), Scheme: "http", cert: [2]string{o.CertFile, o.KeyFile}}
	if o.CertFile != "" {
		s.Scheme = "https"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	ln.Close()
	s.start(bin)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(bin string) {
	s.t.Helper()
	args := []string{"--access", AccessKey, "--secret", SecretKey, "--port", s.Addr}
	if s.cert[0] != "" {
		args = append(args, "--cert", s.cert[0], "--key", s.cert[1])
	}
	args = append(args, "posix", s.Dir)
	cmd := exec.Command(bin, args...)
	// A test binary that dies (a timeout's panic) takes the server along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.stderr = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = s.stderr, s.stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	// versitygw has no readiness notification: wait for its port to accept.
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			s.t.Fatalf("versitygw exited at start:\n%s", s.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw did not listen on %s within 60 s:\n%s", s.Addr, s.stderr)
		}
	}
}

// Stop kills the server (a store that went down); Restart brings it back
// on the same port and directory.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts a stopped server again.
func (s *Server) Restart() {
	s.t.Helper()
	s.start(Binary())
}

// Endpoint returns the server's URL.
func (s *Server) Endpoint() string { return s.Scheme + "://" + s.Addr }

// Config returns a client config for bucket on this server.
func (s *Server) Config(bucket string) s3.Config {
	return s3.Config{Endpoint: s.Endpoint(), Bucket: bucket, Region: "us-east-1",
		AccessKeyID: AccessKey, SecretAccessKey: SecretKey, PathStyle: true}
}

// Bucket creates bucket and returns a client for it.
func (s *Server) Bucket(bucket string) *s3.Client {
	s.t.Helper()
	c, err := s3.New(s.Config(bucket))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.CreateBucket(context.Background()); err != nil {
		s.t.Fatalf("create bucket: %v\n%s", err, s.stderr)
	}
	return c
}

// ObjectPath returns where the posix backend keeps an object's bytes.
func (s *Server) ObjectPath(bucket, key string) string {
	return filepath.Join(s.Dir, bucket, filepath.FromSlash(key))
}

// Log returns what the server printed.
func (s *Server) Log() string { return fmt.Sprint(s.stderr) }
