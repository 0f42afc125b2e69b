package enroll

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/buildinfo"
	"cis490/internal/config"
	"cis490/internal/pki"
	"cis490/internal/wire"
)

// ErrPinMismatch reports that the CA the receiver served is not the one the
// operator pinned with --ca-sha256; the join stops before the secret is sent.
var ErrPinMismatch = errors.New("the receiver's CA does not match --ca-sha256")

// JoinOptions are the inputs of a join.
type JoinOptions struct {
	URL    string // the receiver, from --url
	Secret string // the join secret, from --token
	Pin    string // "sha256:<hex>" from --ca-sha256, or ""
	Config config.LabHost
	// Timeout bounds each request; 0 means 30 s.
	Timeout time.Duration
	Log     *slog.Logger
	// Sent, if set, sees every request the join sends (tests check that
	// no private key leaves the host).
	Sent func(method, path string, body []byte)
}

// JoinResult is `join --json`.
type JoinResult struct {
	Host       string   `json:"host"`
	URL        string   `json:"url"`
	NotAfter   *string  `json:"not_after"`
	RenewAfter *string  `json:"renew_after"`
	Files      []string `json:"files"`
}

// joiner holds one join's client and trust.
type joiner struct {
	o      JoinOptions
	base   *url.URL
	client *http.Client
	caPEM  []byte // the fleet CA as served and checked, or nil
}

// Join joins the fleet (SPEC §14): it establishes trust in the receiver,
// keeps or makes the host key, sends a CSR with the join secret, and writes
// the certificate, CA bundle and token. Errors: ErrConfig (exit 2), a
// *wire.Error refusal or anything else (exit 1).
func Join(ctx context.Context, o JoinOptions) (JoinResult, error) {
	res := JoinResult{Host: o.Config.HostID, URL: o.URL, Files: []string{}}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return res, fmt.Errorf("%w: --url %q is not an http:// or https:// URL", ErrConfig, o.URL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasPrefix(o.Secret, "cis490j_") {
		return res, fmt.Errorf("%w: --token is not a join secret (cis490j_…) from `cis490-receiver host add`", ErrConfig)
	}
	if o.Pin != "" {
		pin, ok := pki.NormalizeFingerprint(o.Pin)
		if !ok {
			return res, fmt.Errorf("%w: --ca-sha256 %q is not sha256:<64 hex>", ErrConfig, o.Pin)
		}
		o.Pin = pin
	}
	files, err := FilesOf(o.Config, false)
	if err != nil {
		return res, err
	}
	j := &joiner{o: o, base: u}
	if err := j.trust(ctx, files); err != nil {
		return res, err
	}
	withCert := j.caPEM != nil
	if withCert {
		if files, err = FilesOf(o.Config, true); err != nil {
			return res, err
		}
	}
	req := wire.JoinRequest{Host: o.Config.HostID}
	if withCert {
		// The key of an unfinished join is reused (a lost answer must not
		// strand the host); after a finished one, a new join (a re-admitted
		// host, perhaps revoked for a leaked key) starts with a new key.
		if st, joined, _ := ReadState(files.Cert); joined && st.Status != StatusJoining {
			if err := os.Remove(files.Key); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, fmt.Errorf("key: %w", err)
			}
		}
		key, reused, err := loadOrMakeKey(files.Key, files.Owner)
		if err != nil {
			return res, err
		}
		if err := writeState(files, State{Status: StatusJoining, At: fmtTime(now())}); err != nil {
			return res, err
		}
		if reused {
			o.Log.Info("reusing the key of an earlier attempt", "file", files.Key)
		} else {
			res.Files = append(res.Files, files.Key)
		}
		csr, err := pki.NewCSR(key, o.Config.HostID)
		if err != nil {
			return res, err
		}
		s := string(csr)
		req.CSR = &s
	}
	body, _ := json.Marshal(req)
	resp, reply, err := j.post(ctx, wire.JoinPath, o.Secret, body)
	if err != nil {
		return res, err
	}
	if resp.StatusCode != http.StatusCreated {
		return res, fmt.Errorf("join: %w", decodeError(resp, reply))
	}
	var jr wire.JoinReply
	if err := json.Unmarshal(reply, &jr); err != nil || jr.Token == "" {
		return res, fmt.Errorf("join: the receiver's answer does not parse: %v", err)
	}
	if withCert {
		if jr.Cert == "" {
			return res, errors.New("join: the receiver sent no certificate")
		}
		if _, err := pki.ParseCert([]byte(jr.Cert)); err != nil {
			return res, fmt.Errorf("join: certificate: %w", err)
		}
		if err := atomicio.WriteFileOwned(files.Cert, []byte(jr.Cert), 0o644, files.Owner); err != nil {
			return res, err
		}
		if err := atomicio.WriteFileOwned(files.CA, j.caPEM, 0o644, files.Owner); err != nil {
			return res, err
		}
		res.Files = append(res.Files, files.Cert, files.CA)
		res.NotAfter, res.RenewAfter = &jr.NotAfter, &jr.RenewAfter
	}
	if err := atomicio.WriteFileOwned(files.Token, []byte(jr.Token+"\n"), 0o600, files.Owner); err != nil {
		return res, err
	}
	res.Files = append(res.Files, files.Token)
	if withCert {
		if err := writeState(files, State{Status: "joined", At: fmtTime(now()), NotAfter: jr.NotAfter, RenewAfter: jr.RenewAfter}); err != nil {
			return res, err
		}
		res.Files = append(res.Files, StatePath(files.Cert))
	}
	if f, ok := j.releaseKey(ctx, files, jr.Token); ok {
		res.Files = append(res.Files, f)
	}
	return res, nil
}

// trust decides how the receiver is verified: the existing ca_bundle, or
// the CA it serves at /v1/ca, checked against the pin before anything
// secret is sent. Over http the CA (if any) is fetched for the CA bundle.
func (j *joiner) trust(ctx context.Context, files Files) error {
	o := j.o
	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: o.Timeout}).DialContext,
		TLSHandshakeTimeout: o.Timeout, ResponseHeaderTimeout: o.Timeout}
	j.client = &http.Client{Transport: tr, Timeout: 2 * o.Timeout}
	if j.base.Scheme == "https" && files.CA != "" {
		if b, err := os.ReadFile(files.CA); err == nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				return fmt.Errorf("%w: ca_bundle %s holds no certificate", ErrConfig, files.CA)
			}
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
			// The CA for a certificate still comes from /v1/ca, verified
			// through the bundle.
			return j.fetchCA(ctx)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ca_bundle: %w", err)
		}
	}
	if j.base.Scheme == "https" && o.Pin == "" {
		return fmt.Errorf("%w: https needs --ca-sha256 (printed by `cis490-receiver host add`) or an existing ca_bundle", ErrConfig)
	}
	if j.base.Scheme == "https" {
		// Fetch the CA without verifying the server, keeping what it
		// presented; nothing secret is in this request.
		var peer []*x509.Certificate
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error { peer = cs.PeerCertificates; return nil }}
		if err := j.fetchCA(ctx); err != nil {
			return err
		}
		if j.caPEM == nil {
			return errors.New("join: the receiver serves no fleet CA (404 pki-off), so --ca-sha256 cannot be checked")
		}
		ca, _ := pki.ParseCert(j.caPEM)
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		if len(peer) == 0 {
			return errors.New("join: the receiver presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range peer[1:] {
			inter.AddCert(c)
		}
		if _, err := peer[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: j.base.Hostname()}); err != nil {
			return fmt.Errorf("join: the receiver's certificate is not from the pinned CA for %s: %w", j.base.Hostname(), err)
		}
		tr.CloseIdleConnections()
		j.client.Transport = &http.Transport{Proxy: nil, DialContext: tr.DialContext, TLSHandshakeTimeout: o.Timeout,
			ResponseHeaderTimeout: o.Timeout, TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}}
		return nil
	}
	return j.fetchCA(ctx)
}

// fetchCA GETs /v1/ca into caPEM (nil on 404 pki-off) and checks the pin.
func (j *joiner) fetchCA(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.base.String()+wire.CAPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "cis490-shipper/"+buildinfo.Version)
	j.sent(req, nil)
	resp, err := j.client.Do(req)
	if err != nil {
		return fmt.Errorf("join: GET %s: %w", wire.CAPath, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("join: GET %s: %w", wire.CAPath, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		if j.o.Pin != "" {
			return errors.New("join: the receiver serves no fleet CA (404 pki-off), so --ca-sha256 cannot be checked")
		}
		return nil
	default:
		return fmt.Errorf("join: GET %s: %w", wire.CAPath, decodeError(resp, b))
	}
	ca, err := pki.ParseCert(b)
	if err != nil {
		return fmt.Errorf("join: the CA the receiver serves: %w", err)
	}
	if got := pki.Fingerprint(ca.Raw); j.o.Pin != "" && got != j.o.Pin {
		return fmt.Errorf("%w: it serves %s, you gave %s; nothing was sent", ErrPinMismatch, got, j.o.Pin)
	}
	j.caPEM = pki.EncodeCert(ca.Raw)
	return nil
}

func (j *joiner) sent(req *http.Request, body []byte) {
	if j.o.Sent != nil {
		j.o.Sent(req.Method, req.URL.Path, body)
	}
}

// post sends a JSON body with a bearer token.
func (j *joiner) post(ctx context.Context, path, bearer string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.base.String()+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("User-Agent", "cis490-shipper/"+buildinfo.Version)
	j.sent(req, body)
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("join: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("join: POST %s: %w", path, err)
	}
	return resp, b, nil
}

// releaseKey fetches /v1/releases/key (SPEC §15) into [update]
// public_key_file when that file is absent and the receiver serves one.
// Best effort: a failure is logged, the join still succeeded.
func (j *joiner) releaseKey(ctx context.Context, files Files, token string) (string, bool) {
	dst := j.o.Config.Update.PublicKeyFile
	if dst == "" {
		return "", false
	}
	if _, err := os.Stat(dst); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.base.String()+wire.ReleaseKeyPath, nil)
	if err != nil {
		return "", false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(wire.HeaderHost, j.o.Config.HostID)
	client := j.client
	if j.caPEM != nil && j.base.Scheme == "https" {
		// The mTLS routes want the new certificate.
		pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err == nil {
			t := j.client.Transport.(*http.Transport).Clone()
			t.TLSClientConfig = t.TLSClientConfig.Clone()
			t.TLSClientConfig.Certificates = []tls.Certificate{pair}
			client = &http.Client{Transport: t, Timeout: j.client.Timeout}
		}
	}
	j.sent(req, nil)
	resp, err := client.Do(req)
	if err != nil {
		j.o.Log.Warn("release key not fetched", "error", err)
		return "", false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		if resp.StatusCode != http.StatusNotFound {
			j.o.Log.Warn("release key not fetched", "status", resp.StatusCode)
		}
		return "", false
	}
	if err := atomicio.WriteFileOwned(dst, b, 0o644, ""); err != nil {
		j.o.Log.Warn("release key not written", "file", dst, "error", err)
		return "", false
	}
	return dst, true
}

// decodeError reads the receiver's JSON error body into a *wire.Error.
func decodeError(resp *http.Response, body []byte) *wire.Error {
	e := &wire.Error{Status: resp.StatusCode}
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		e.Code, _ = m["error"].(string)
		e.Detail, _ = m["detail"].(string)
	}
	if e.Detail == "" {
		e.Detail = http.StatusText(resp.StatusCode)
	}
	return e
}
