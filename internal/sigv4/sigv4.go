// Package sigv4 signs HTTP requests with AWS Signature Version 4 in the
// Authorization header, as S3-compatible object stores expect (SPEC §17).
// It implements the single-chunk form: the payload's sha256 is known before
// the request is sent, or the payload is left unsigned (UNSIGNED-PAYLOAD)
// and protected by a checksum header instead.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Header names and values of the signature.
const (
	HeaderDate          = "X-Amz-Date"
	HeaderContentSHA256 = "X-Amz-Content-Sha256"
	// UnsignedPayload is the x-amz-content-sha256 value of a request whose
	// body is not part of the signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// EmptySHA256 is the sha256 of an empty payload.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

	algorithm  = "AWS4-HMAC-SHA256"
	timeFormat = "20060102T150405Z"
	dateFormat = "20060102"
)

// Signer signs requests for one set of credentials, region and service.
type Signer struct {
	AccessKeyID     string
	SecretAccessKey string
	Region          string // "us-east-1" when empty
	Service         string // "s3" when empty
}

// Sign sets the X-Amz-Date, X-Amz-Content-Sha256 and Authorization headers
// of r. payloadHash is the hex sha256 of the body, UnsignedPayload, or empty
// for EmptySHA256. Every header already in r.Header is signed, plus Host;
// the request's path and query are rewritten to their canonical encoding so
// that what is sent is what was signed.
func (s *Signer) Sign(r *http.Request, payloadHash string, t time.Time) {
	if payloadHash == "" {
		payloadHash = EmptySHA256
	}
	t = t.UTC()
	r.Header.Set(HeaderDate, t.Format(timeFormat))
	r.Header.Set(HeaderContentSHA256, payloadHash)
	r.Header.Del("Authorization")

	path := EncodePath(r.URL.Path)
	r.URL.RawPath = path
	query := canonicalQuery(r.URL.Query())
	r.URL.RawQuery = query

	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	names, headers := canonicalHeaders(r.Header, host)
	creq := strings.Join([]string{r.Method, path, query, headers, names, payloadHash}, "\n")
	scope := t.Format(dateFormat) + "/" + s.region() + "/" + s.service() + "/aws4_request"
	sts := algorithm + "\n" + t.Format(timeFormat) + "\n" + scope + "\n" + hexSHA256([]byte(creq))
	sig := hex.EncodeToString(hmacSHA256(s.signingKey(t), []byte(sts)))
	r.Header.Set("Authorization", algorithm+" Credential="+s.AccessKeyID+"/"+scope+
		",SignedHeaders="+names+",Signature="+sig)
}

// CanonicalRequest returns the canonical request Sign would build for r
// (after Sign has run: its headers are part of it). Tests and debugging
// use it.
func CanonicalRequest(r *http.Request) string {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	names, headers := canonicalHeaders(r.Header, host)
	return strings.Join([]string{r.Method, EncodePath(r.URL.Path), canonicalQuery(r.URL.Query()),
		headers, names, r.Header.Get(HeaderContentSHA256)}, "\n")
}

func (s *Signer) region() string {
	if s.Region == "" {
		return "us-east-1"
	}
	return s.Region
}

func (s *Signer) service() string {
	if s.Service == "" {
		return "s3"
	}
	return s.Service
}

func (s *Signer) signingKey(t time.Time) []byte {
	k := hmacSHA256([]byte("AWS4"+s.SecretAccessKey), []byte(t.Format(dateFormat)))
	k = hmacSHA256(k, []byte(s.region()))
	k = hmacSHA256(k, []byte(s.service()))
	return hmacSHA256(k, []byte("aws4_request"))
}

// canonicalHeaders returns the signed header names (";"-joined) and the
// canonical header block (each "name:value\n").
func canonicalHeaders(h http.Header, host string) (names, block string) {
	vals := map[string]string{"host": trimAll(host)}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if lk == "authorization" || lk == "host" {
			continue
		}
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = trimAll(v)
		}
		vals[lk] = strings.Join(parts, ",")
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(vals[k])
		b.WriteByte('\n')
	}
	return strings.Join(keys, ";"), b.String()
}

// trimAll trims v and collapses runs of spaces into one.
func trimAll(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

func canonicalQuery(q map[string][]string) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, kv{Escape(k), Escape(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// EncodePath returns path URI-encoded as SigV4 wants for S3: every byte but
// the unreserved characters and "/" percent-encoded, once.
func EncodePath(path string) string {
	if path == "" {
		return "/"
	}
	return escape(path, true)
}

// Escape URI-encodes s as SigV4 wants for query keys and values.
func Escape(s string) string { return escape(s, false) }

func escape(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
