package replica

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cis490/internal/s3"
	"cis490/internal/s3/s3test"
)

// selfSigned writes a certificate for 127.0.0.1 and its key; the
// certificate is its own CA.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "s3 test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRefusalsAreReportedAndNothingIsRecorded(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	srv.Bucket(bucket)
	cert, key := selfSigned(t)
	tlsSrv := s3test.Start(t, s3test.Options{CertFile: cert, KeyFile: key})
	tests := []struct {
		name     string
		config   func() s3.Config
		wantKind string
	}{
		{"wrong credentials", func() s3.Config {
			c := srv.Config(bucket)
			c.SecretAccessKey = "not-the-secret"
			return c
		}, s3.KindAuth},
		{"unknown bucket", func() s3.Config { return srv.Config("no-such-bucket") }, s3.KindNoBucket},
		{"tls without ca_file", func() s3.Config { return tlsSrv.Config(bucket) }, s3.KindTLS},
		{"checksum mismatch answered", func() s3.Config {
			p := s3test.NewProxy(t, srv.Endpoint(), s3test.PutsOnly(s3test.WrongChecksum, 1<<30))
			c := srv.Config(bucket)
			c.Endpoint = p.URL
			return c
		}, KindChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, err := s3.New(tt.config())
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, time.Now)
			f.ingest("ep", 2, 1000)
			var logs syncBuffer
			r := f.start(client, func(o *Options) {
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
				o.IndexEvery = time.Hour
			})
			for i := 0; i < 3; i++ {
				if e := f.waitFailure(); kindOf(e.Err) != tt.wantKind {
					t.Fatalf("failure kind %q (%v), want %q", kindOf(e.Err), e.Err, tt.wantKind)
				}
			}
			if rows := replicaRows(t, f.dir); len(rows) != 0 {
				t.Errorf("recorded %v", rows)
			}
			st := r.Status()
			if st.LastError == nil || st.LastError.Kind != tt.wantKind || st.LastError.Detail == "" || st.Pending != 2 {
				t.Errorf("status = %+v last_error %+v", st, st.LastError)
			}
			var m bytes.Buffer
			r.WriteMetrics(&m)
			if !strings.Contains(m.String(), `cis490_replica_errors_total{kind="`+tt.wantKind+`"} `) ||
				!strings.Contains(m.String(), "cis490_replica_pending_episodes 2\n") {
				t.Errorf("metrics:\n%s", m.String())
			}
			if !strings.Contains(logs.String(), "replication failed") || !strings.Contains(logs.String(), "kind="+tt.wantKind) {
				t.Errorf("log:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), s3test.SecretKey) {
				t.Error("the secret key is in the log")
			}
		})
	}
	t.Run("tls with ca_file", func(t *testing.T) {
		c := tlsSrv.Config(bucket)
		c.CAFile = cert
		client, err := s3.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.CreateBucket(t.Context()); err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, time.Now)
		f.ingest("ep", 2, 1000)
		f.start(client, nil)
		f.waitReplicated(2)
		if rows := replicaRows(t, f.dir); len(rows) != 2 {
			t.Errorf("recorded %v", rows)
		}
	})
}
