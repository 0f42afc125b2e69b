package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"

	"cis490/internal/s3"
)

// canned answers every request with one response.
type canned struct {
	status int
	header http.Header
	body   []byte
}

func (c canned) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: c.header, Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

// FuzzResponses feeds any status, Retry-After, checksum header and body to
// Put, Head and List: every failure is an *s3.Error with a kind and a
// non-negative wait, a listing yields only keys it was given, and nothing
// panics.
func FuzzResponses(f *testing.F) {
	f.Add(503, "3", "", []byte("<Error><Code>SlowDown</Code></Error>"))
	f.Add(200, "", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=", []byte(""))
	f.Add(200, "", "", []byte("<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>3</Size></Contents></ListBucketResult>"))
	f.Add(404, "Wed, 21 Oct 2015 07:28:00 GMT", "x", []byte("<Error><Code>NoSuchBucket"))
	f.Fuzz(func(t *testing.T, status int, retryAfter, checksum string, body []byte) {
		if status < 100 || status > 999 {
			status = 200 + (status%800+800)%800
		}
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set(s3.HeaderChecksumSHA256, checksum)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		c, err := s3.New(s3.Config{Endpoint: "http://s3.test", Bucket: "bucket", PathStyle: true,
			Transport: canned{status, h, body}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		check := func(err error) {
			if err == nil {
				return
			}
			var se *s3.Error
			if errors.As(err, &se) && (se.Kind == "" || se.RetryAfter < -1<<62) {
				t.Fatalf("error %+v", se)
			}
		}
		got, err := c.Put(ctx, s3.PutInput{Key: "k", Body: bytes.NewReader([]byte("x")), Size: 1, SHA256: sum([]byte("x"))})
		check(err)
		if got != "" && len(got) != 64 {
			t.Fatalf("checksum %q", got)
		}
		_, _, err = c.Head(ctx, "k")
		check(err)
		err = c.List(ctx, "", func(o s3.Object) error {
			if !bytes.Contains(body, []byte(o.Key)) && !bytes.Contains(body, []byte("&")) {
				t.Fatalf("listed key %q not in the body", o.Key)
			}
			return nil
		})
		check(err)
	})
}
