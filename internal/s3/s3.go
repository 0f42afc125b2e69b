// Package s3 is a small client for S3-compatible object stores (SPEC §17):
// PUT, HEAD, GET, ListObjectsV2 and DELETE of single objects, signed with
// AWS Signature Version 4, path-style or virtual-hosted. Uploads stream from
// a reader of known length and carry x-amz-checksum-sha256, so the store
// verifies every byte.
package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"cis490/internal/sigv4"
)

// Header names of the checksum protocol.
const (
	HeaderChecksumSHA256 = "X-Amz-Checksum-Sha256"
	HeaderChecksumMode   = "X-Amz-Checksum-Mode"
	MetaPrefix           = "X-Amz-Meta-"
)

// Config describes a bucket and how to reach it.
type Config struct {
	Endpoint        string // scheme://host[:port]
	Bucket          string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// PathStyle addresses the bucket as endpoint/bucket/key; otherwise as
	// bucket.endpoint-host/key (virtual-hosted).
	PathStyle bool
	// CAFile, if set, is the PEM bundle that verifies the store's TLS
	// certificate instead of the system roots.
	CAFile string
	// UnsignedPayload sends x-amz-content-sha256: UNSIGNED-PAYLOAD on PUTs
	// (the checksum header still protects the bytes) instead of the payload
	// hash.
	UnsignedPayload bool
	// Transport, if set, replaces the HTTP transport (tests).
	Transport http.RoundTripper
	// Now, if set, replaces the clock used for signing (tests).
	Now func() time.Time
}

// Client talks to one bucket.
type Client struct {
	cfg    Config
	base   *url.URL
	signer sigv4.Signer
	http   *http.Client
	now    func() time.Time
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("s3: endpoint %q is not an http(s) URL", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	rt := cfg.Transport
	if rt == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		tr.ResponseHeaderTimeout = 0
		tr.WriteBufferSize = 64 << 10
		tr.ReadBufferSize = 64 << 10
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("s3: ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("s3: ca_file %s holds no PEM certificate", cfg.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		rt = tr
	}
	c := &Client{
		cfg:  cfg,
		base: u,
		signer: sigv4.Signer{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey,
			Region: cfg.Region, Service: "s3"},
		http: &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		now: cfg.Now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Bucket returns the bucket's name.
func (c *Client) Bucket() string { return c.cfg.Bucket }

// objectURL returns the URL of key (key "" names the bucket itself).
func (c *Client) objectURL(key string) *url.URL {
	u := *c.base
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	base := strings.TrimSuffix(u.Path, "/")
	if c.cfg.PathStyle {
		u.Path = base + "/" + c.cfg.Bucket + "/" + key
	} else {
		u.Host = c.cfg.Bucket + "." + u.Host
		u.Path = base + "/" + key
	}
	return &u
}

// newRequest builds and signs a request for key.
func (c *Client) newRequest(ctx context.Context, method, key string, query url.Values, body io.Reader, size int64, payloadHash string, hdr http.Header) (*http.Request, error) {
	u := c.objectURL(key)
	if query != nil {
		u.RawQuery = query.Encode()
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if body != nil {
		r.ContentLength = size
		if size == 0 {
			r.Body = http.NoBody
		}
	}
	for k, vs := range hdr {
		r.Header[k] = vs
	}
	c.signer.Sign(r, payloadHash, c.now())
	return r, nil
}

// PutInput is one object upload.
type PutInput struct {
	Key  string
	Body io.Reader
	Size int64
	// SHA256 is the body's hex sha256: sent as x-amz-checksum-sha256 (and as
	// the signed payload hash unless Config.UnsignedPayload).
	SHA256 string
	// Meta are x-amz-meta-* values, keyed without the prefix.
	Meta        map[string]string
	ContentType string
}

// Put uploads one object and returns the checksum the store answered with
// (hex; empty when it answered none).
func (c *Client) Put(ctx context.Context, in PutInput) (string, error) {
	raw, err := hex.DecodeString(in.SHA256)
	if err != nil || len(raw) != 32 {
		return "", fmt.Errorf("s3: put %s: bad sha256 %q", in.Key, in.SHA256)
	}
	h := http.Header{}
	h.Set(HeaderChecksumSHA256, base64.StdEncoding.EncodeToString(raw))
	for k, v := range in.Meta {
		h.Set(MetaPrefix+k, v)
	}
	if in.ContentType != "" {
		h.Set("Content-Type", in.ContentType)
	}
	payload := in.SHA256
	if c.cfg.UnsignedPayload {
		payload = sigv4.UnsignedPayload
	}
	r, err := c.newRequest(ctx, http.MethodPut, in.Key, nil, in.Body, in.Size, payload, h)
	if err != nil {
		return "", err
	}
	resp, err := c.do(r)
	if err != nil {
		var se *Error
		if errors.As(err, &se) && se.Kind == KindNetwork && ctx.Err() == nil {
			if refusal := c.refusal(ctx); refusal != nil {
				err = refusal
			}
		}
		return "", fmt.Errorf("put %s: %w", in.Key, err)
	}
	defer drain(resp)
	return checksumHex(resp.Header.Get(HeaderChecksumSHA256)), nil
}

// refusal asks the store, with a request that has no body, whether it
// refuses this client's credentials or bucket, and returns that refusal
// (kind auth or no-bucket), or nil. A store that refuses a PUT may answer
// and close the connection before it reads the body; the client then sees
// only the reset of its body write, which would read as a network fault.
func (c *Client) refusal(ctx context.Context) error {
	r, err := c.newRequest(ctx, http.MethodGet, "", url.Values{"list-type": {"2"}, "max-keys": {"1"}}, nil, 0, "", nil)
	if err != nil {
		return nil
	}
	resp, err := c.do(r)
	if err != nil {
		var se *Error
		if errors.As(err, &se) && (se.Kind == KindAuth || se.Kind == KindNoBucket) {
			return se
		}
		return nil
	}
	drain(resp)
	return nil
}

// Object describes a stored object.
type Object struct {
	Key    string
	Size   int64
	SHA256 string            // hex; empty when the store keeps none
	Meta   map[string]string // x-amz-meta-* without the prefix, lower case
}

// Head returns what the store knows of key, asking for its checksum.
// found is false when the object does not exist.
func (c *Client) Head(ctx context.Context, key string) (o Object, found bool, err error) {
	h := http.Header{}
	h.Set(HeaderChecksumMode, "ENABLED")
	r, err := c.newRequest(ctx, http.MethodHead, key, nil, nil, 0, "", h)
	if err != nil {
		return o, false, err
	}
	resp, err := c.do(r)
	var se *Error
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("head %s: %w", key, err)
	}
	defer drain(resp)
	o = Object{Key: key, Size: resp.ContentLength, SHA256: checksumHex(resp.Header.Get(HeaderChecksumSHA256)),
		Meta: map[string]string{}}
	for k, vs := range resp.Header {
		if m, ok := strings.CutPrefix(k, MetaPrefix); ok && len(vs) > 0 {
			o.Meta[strings.ToLower(m)] = vs[0]
		}
	}
	return o, true, nil
}

// Get returns the body of key; the caller closes it.
func (c *Client) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	r, err := c.newRequest(ctx, http.MethodGet, key, nil, nil, 0, "", nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.do(r)
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, err)
	}
	return resp.Body, resp.ContentLength, nil
}

// Delete removes key (a missing key is not an error, as in S3).
func (c *Client) Delete(ctx context.Context, key string) error {
	r, err := c.newRequest(ctx, http.MethodDelete, key, nil, nil, 0, "", nil)
	if err != nil {
		return err
	}
	resp, err := c.do(r)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	drain(resp)
	return nil
}

// List calls fn for every object whose key starts with prefix, in key
// order, one ListObjectsV2 page at a time.
func (c *Client) List(ctx context.Context, prefix string, fn func(Object) error) error {
	token := ""
	for {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}, "max-keys": {"1000"}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		r, err := c.newRequest(ctx, http.MethodGet, "", q, nil, 0, "", nil)
		if err != nil {
			return err
		}
		resp, err := c.do(r)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		var page struct {
			IsTruncated           bool
			NextContinuationToken string
			Contents              []struct {
				Key  string
				Size int64
			}
		}
		err = xml.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&page)
		drain(resp)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(Object{Key: o.Key, Size: o.Size}); err != nil {
				return err
			}
		}
		if !page.IsTruncated || page.NextContinuationToken == "" {
			return nil
		}
		token = page.NextContinuationToken
	}
}

// do sends r and turns a non-2xx answer into an *Error.
func (c *Client) do(r *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(r)
	if err != nil {
		return nil, &Error{Kind: transportKind(err), Detail: err.Error(), Err: err}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer drain(resp)
	e := &Error{Status: resp.StatusCode}
	if r.Method != http.MethodHead {
		var body struct {
			Code    string
			Message string
		}
		if xml.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) == nil {
			e.Code, e.Detail = body.Code, body.Message
		}
	}
	if e.Code == "" {
		e.Code = http.StatusText(resp.StatusCode)
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = time.Until(t)
		}
	}
	e.Kind = statusKind(e.Status, e.Code)
	return nil, e
}

// Error kinds: what went wrong, as /metrics counts it.
const (
	KindAuth      = "auth"      // credentials refused
	KindNoBucket  = "no-bucket" // the bucket does not exist
	KindChecksum  = "checksum"  // the store computed another checksum
	KindThrottled = "throttled" // 503 SlowDown, 429
	KindServer    = "server"    // other 5xx
	KindClient    = "client"    // other 4xx
	KindNetwork   = "network"   // connect, reset, timeout
	KindTLS       = "tls"       // certificate not trusted
)

// Error is a failed request.
type Error struct {
	Kind       string
	Status     int    // 0 when no answer came
	Code       string // S3 error code (NoSuchBucket, SlowDown, …)
	Detail     string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return e.Kind + ": " + e.Detail
	}
	s := fmt.Sprintf("%s: %d %s", e.Kind, e.Status, e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether retrying the same request later may succeed
// without anyone changing the configuration.
func (e *Error) Temporary() bool {
	switch e.Kind {
	case KindThrottled, KindServer, KindNetwork, KindChecksum:
		return true
	}
	return false
}

func statusKind(status int, code string) string {
	switch {
	case code == "SlowDown" || status == http.StatusTooManyRequests:
		return KindThrottled
	case code == "BadDigest" || code == "XAmzContentSHA256Mismatch" || code == "InvalidDigest":
		return KindChecksum
	case code == "NoSuchBucket":
		return KindNoBucket
	case status == http.StatusForbidden || status == http.StatusUnauthorized ||
		code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "AccessDenied":
		return KindAuth
	case status >= 500:
		return KindServer
	}
	return KindClient
}

func transportKind(err error) string {
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce *tls.CertificateVerificationError
	var re tls.RecordHeaderError
	if errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) || errors.As(err, &re) {
		return KindTLS
	}
	var ne net.Error
	_ = errors.As(err, &ne)
	return KindNetwork
}

// checksumHex turns a base64 x-amz-checksum-sha256 value into hex ("" if
// absent or malformed).
func checksumHex(b64 string) string {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(raw) != 32 {
		return ""
	}
	return hex.EncodeToString(raw)
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 256<<10))
	resp.Body.Close()
}

// CreateBucket creates the bucket (tests and first set-up; an existing
// bucket owned by the same credentials is not an error).
func (c *Client) CreateBucket(ctx context.Context) error {
	r, err := c.newRequest(ctx, http.MethodPut, "", nil, nil, 0, "", nil)
	if err != nil {
		return err
	}
	resp, err := c.do(r)
	var se *Error
	if errors.As(err, &se) && (se.Code == "BucketAlreadyOwnedByYou") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", c.cfg.Bucket, err)
	}
	drain(resp)
	return nil
}
