package sigv4

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The examples of the S3 API reference, "Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk", with the
// documentation's example credentials and their documented signatures.
var (
	exampleSigner = Signer{
		AccessKeyID:     "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		Region:          "us-east-1",
		Service:         "s3",
	}
	exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
)

func TestPublishedExamples(t *testing.T) {
	tests := []struct {
		name, method, url string
		headers           map[string]string
		payloadHash       string
		wantCanonical     string
		wantAuth          string
	}{{
		name:        "get object",
		method:      "GET",
		url:         "https://examplebucket.s3.amazonaws.com/test.txt",
		headers:     map[string]string{"Range": "bytes=0-9"},
		payloadHash: EmptySHA256,
		wantCanonical: "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n" +
			"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
			"x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" +
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		wantAuth: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
			"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	}, {
		name:   "put object",
		method: "PUT",
		url:    "https://examplebucket.s3.amazonaws.com/test$file.text",
		headers: map[string]string{
			"Date":                "Fri, 24 May 2013 00:00:00 GMT",
			"X-Amz-Storage-Class": "REDUCED_REDUNDANCY",
		},
		payloadHash: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", // "Welcome to Amazon S3."
		wantCanonical: "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n" +
			"host:examplebucket.s3.amazonaws.com\n" +
			"x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n" +
			"x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n" +
			"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" +
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		wantAuth: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class," +
			"Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
	}, {
		name:        "get bucket lifecycle",
		method:      "GET",
		url:         "https://examplebucket.s3.amazonaws.com/?lifecycle",
		payloadHash: EmptySHA256,
		wantCanonical: "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n" +
			"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
			"x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n" +
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		wantAuth: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=host;x-amz-content-sha256;x-amz-date," +
			"Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
	}, {
		name:        "list objects",
		method:      "GET",
		url:         "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
		payloadHash: EmptySHA256,
		wantCanonical: "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n" +
			"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
			"x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n" +
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		wantAuth: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=host;x-amz-content-sha256;x-amz-date," +
			"Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			exampleSigner.Sign(r, tt.payloadHash, exampleTime)
			if got := CanonicalRequest(r); got != tt.wantCanonical {
				t.Errorf("canonical request:\n%s\nwant:\n%s", got, tt.wantCanonical)
			}
			if got := r.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization:\n%s\nwant:\n%s", got, tt.wantAuth)
			}
		})
	}
}

func TestSignedPathIsSentPath(t *testing.T) {
	r, _ := http.NewRequest("PUT", "http://127.0.0.1:9000/bucket/a$b c/ep-1.tar.zst", nil)
	exampleSigner.Sign(r, UnsignedPayload, exampleTime)
	if got, want := r.URL.EscapedPath(), "/bucket/a%24b%20c/ep-1.tar.zst"; got != want {
		t.Errorf("sent path %q, want %q", got, want)
	}
	if got := r.Header.Get(HeaderContentSHA256); got != UnsignedPayload {
		t.Errorf("content sha256 header %q", got)
	}
}

func TestHeaderValuesAreTrimmedAndJoined(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://h/b/k", nil)
	r.Header.Add("X-Amz-Meta-A", "  one   two ")
	r.Header.Add("X-Amz-Meta-A", "three")
	exampleSigner.Sign(r, "", exampleTime)
	if got := CanonicalRequest(r); !strings.Contains(got, "\nx-amz-meta-a:one two,three\n") {
		t.Errorf("canonical request:\n%s", got)
	}
}

func TestQueryIsSortedAndEncoded(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://h/b?prefix=a b/&list-type=2&continuation-token=x%2By", nil)
	exampleSigner.Sign(r, "", exampleTime)
	if got, want := r.URL.RawQuery, "continuation-token=x%2By&list-type=2&prefix=a%20b%2F"; got != want {
		t.Errorf("query %q, want %q", got, want)
	}
}

func FuzzEscapeRoundTrip(f *testing.F) {
	f.Add("ep-0001.tar.zst")
	f.Add("a b/c$d%e")
	f.Fuzz(func(t *testing.T, s string) {
		for _, enc := range []string{Escape(s), EncodePath(s)} {
			got, err := unescape(enc)
			if err != nil {
				t.Fatalf("%q: %v", enc, err)
			}
			if got != s && !(s == "" && enc == "/") {
				t.Fatalf("round trip %q -> %q -> %q", s, enc, got)
			}
		}
	})
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		var v byte
		for _, c := range []byte(s[i+1 : i+3]) {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= c - '0'
			case c >= 'A' && c <= 'F':
				v |= c - 'A' + 10
			}
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}
