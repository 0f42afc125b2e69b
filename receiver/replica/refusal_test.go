package replica

import (
	"bytes"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/s3"
	"cis490/internal/s3/s3test"
	"cis490/internal/testutil"
)

// selfSigned writes a certificate for 127.0.0.1 and its key; the
// certificate is its own CA.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testutil.NewCA(t, testutil.Cert{CN: "s3 test", IPs: []net.IP{net.ParseIP("127.0.0.1")},
		Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}).Write(t, certFile, keyFile)
	return certFile, keyFile
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer = testutil.SyncBuffer

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
