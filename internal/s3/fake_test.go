package s3_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"cis490/internal/s3"
)

// dialTo sends every connection to addr, whatever host the URL names.
func dialTo(addr string) http.RoundTripper {
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

func TestVirtualHostedAddressing(t *testing.T) {
	var host, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, path = r.Host, r.URL.EscapedPath()
	}))
	defer srv.Close()
	c, err := s3.New(s3.Config{Endpoint: "http://s3.example.test:9000", Bucket: "lab-data",
		AccessKeyID: "k", SecretAccessKey: "s", Transport: dialTo(srv.Listener.Addr().String())})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Head(context.Background(), "p/episodes/ep-1.tar.zst"); err != nil {
		t.Fatal(err)
	}
	if host != "lab-data.s3.example.test:9000" || path != "/p/episodes/ep-1.tar.zst" {
		t.Errorf("host %q path %q", host, path)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		retryAfter string
		wantKind   string
		wantRetry  time.Duration
	}{
		{"slow down", 503, "<Error><Code>SlowDown</Code><Message>Please reduce</Message></Error>", "7", s3.KindThrottled, 7 * time.Second},
		{"too many requests", 429, "", "", s3.KindThrottled, 0},
		{"internal error", 500, "<Error><Code>InternalError</Code></Error>", "", s3.KindServer, 0},
		{"bad digest", 400, "<Error><Code>BadDigest</Code></Error>", "", s3.KindChecksum, 0},
		{"access denied", 403, "<Error><Code>AccessDenied</Code></Error>", "", s3.KindAuth, 0},
		{"no such bucket", 404, "<Error><Code>NoSuchBucket</Code></Error>", "", s3.KindNoBucket, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, _ := s3.New(s3.Config{Endpoint: srv.URL, Bucket: "bucket", PathStyle: true})
			_, err := c.Put(context.Background(), s3.PutInput{Key: "k", Body: bytes.NewReader([]byte("x")), Size: 1, SHA256: sum([]byte("x"))})
			var se *s3.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v", err)
			}
			if se.Kind != tt.wantKind || se.RetryAfter != tt.wantRetry {
				t.Errorf("kind %q retry %v, want %q %v", se.Kind, se.RetryAfter, tt.wantKind, tt.wantRetry)
			}
		})
	}
}
