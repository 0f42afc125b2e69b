package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// fileStamp identifies one version of a credential file, so a renewed or
// newly created file is noticed without reading it on every request.
type fileStamp struct {
	path  string
	size  int64
	mtime time.Time
}

// stampFiles stats every configured credential file. A missing file yields an
// error wrapping ErrCertsNotReady naming it.
func stampFiles(paths ...string) ([]fileStamp, error) {
	var out []fileStamp
	for _, p := range paths {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w: %s is missing", ErrCertsNotReady, p)
			}
			return nil, fmt.Errorf("%w: %v", ErrCertsNotReady, err)
		}
		out = append(out, fileStamp{path: p, size: fi.Size(), mtime: fi.ModTime()})
	}
	return out, nil
}

func sameStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].path != b[i].path || a[i].size != b[i].size || !a[i].mtime.Equal(b[i].mtime) {
			return false
		}
	}
	return true
}

// httpClient returns the *http.Client for the current credential files,
// building a new one when a file appeared or changed since the last request.
// Missing files give ErrCertsNotReady, logged once per change of the reason.
func (c *Client) httpClient() (*http.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tls {
		if c.hc == nil {
			c.hc = &http.Client{Transport: c.newTransport(nil)}
		}
		return c.hc, nil
	}
	stamps, err := stampFiles(c.cfg.CABundle, c.cfg.ClientCert, c.cfg.ClientKey)
	if err == nil && c.hc != nil && sameStamps(stamps, c.stamps) {
		return c.hc, nil
	}
	var tc *tls.Config
	if err == nil {
		tc, err = c.loadTLS()
	}
	if err != nil {
		if c.hc != nil {
			// Keep the last pair that loaded: a renewal caught between
			// writing the key and the certificate, or files gone missing,
			// never leave a mismatched or empty pair in use (SPEC §14).
			c.noteKept(err)
			return c.hc, nil
		}
		c.noteCreds(err)
		return nil, err
	}
	c.noteCreds(nil)
	if c.hc != nil {
		c.hc.CloseIdleConnections()
	}
	c.hc = &http.Client{Transport: c.newTransport(tc)}
	c.stamps = stamps
	return c.hc, nil
}

// noteKept logs, once per reason, that changed credential files did not
// load and the previous ones stay in use.
func (c *Client) noteKept(err error) {
	msg := "kept: " + err.Error()
	if msg == c.credsMsg {
		return
	}
	c.credsMsg = msg
	c.log.Warn("receiver credentials changed but do not load; keeping the previous ones", "error", err.Error())
}

// noteCreds logs a change of the credential state: once when the files go
// missing (or bad), once when they are usable again.
func (c *Client) noteCreds(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == c.credsMsg {
		return
	}
	prev := c.credsMsg
	c.credsMsg = msg
	switch {
	case err != nil:
		c.log.Warn("receiver credentials not usable; uploads wait for them", "error", msg)
	case prev != "":
		c.log.Info("receiver credentials loaded", "ca_bundle", c.cfg.CABundle, "client_cert", c.cfg.ClientCert)
	}
}

func (c *Client) loadTLS() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.cfg.CABundle != "" {
		pem, err := os.ReadFile(c.cfg.CABundle)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCertsNotReady, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: no certificate in ca_bundle %s", ErrCertsNotReady, c.cfg.CABundle)
		}
		tc.RootCAs = pool
	}
	if c.cfg.ClientCert != "" || c.cfg.ClientKey != "" {
		if c.cfg.ClientCert == "" || c.cfg.ClientKey == "" {
			return nil, fmt.Errorf("%w: client_cert and client_key must be set together", ErrCertsNotReady)
		}
		cert, err := tls.LoadX509KeyPair(c.cfg.ClientCert, c.cfg.ClientKey)
		if err != nil {
			// A renewal caught half-written is retried on the next request.
			return nil, fmt.Errorf("%w: %v", ErrCertsNotReady, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (c *Client) newTransport(tc *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               nil, // lab hosts reach the receiver directly over WireGuard
		DialContext:         d.DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: c.timeout,
		// Wait this long for "100 Continue" before sending the body anyway;
		// shorter than the no-progress timeout so it never trips it.
		ExpectContinueTimeout: c.timeout / 2,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     false,
	}
}

// token returns the bearer token: the inline token, else the token file
// read on every request so a rotated file is used at once.
func (c *Client) token() (string, error) {
	if c.cfg.Token != "" {
		return c.cfg.Token, nil
	}
	if c.cfg.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.cfg.TokenFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: token_file %s is missing", ErrCertsNotReady, c.cfg.TokenFile)
		}
		return "", fmt.Errorf("read token_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
