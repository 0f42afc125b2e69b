package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"cis490/internal/config"
)

// reloadEvery bounds how stale a renewed certificate may be: files are
// re-checked at most this often, so new connections use renewed files
// within 10 s (SPEC §13).
const reloadEvery = 5 * time.Second

// certFiles holds the server certificate and client CA, reloaded when the
// files' modification times or sizes change.
type certFiles struct {
	cfg config.TLS
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	checked time.Time
	stamp   string
	cert    *tls.Certificate
	pool    *x509.CertPool
}

func newTLSConfig(cfg config.TLS, log *slog.Logger) (*tls.Config, error) {
	if cfg.KeyFile == "" {
		return nil, fmt.Errorf("tls: cert_file is set but key_file is not")
	}
	cf := &certFiles{cfg: cfg, log: log, now: time.Now}
	if err := cf.load(cf.now()); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := cf.current()
			c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
			if pool != nil {
				c.ClientCAs = pool
				// Asked for and verified when sent; the handler requires
				// it on every route but the open ones (SPEC §14), so a
				// joining host without a certificate can reach /v1/join.
				c.ClientAuth = tls.VerifyClientCertIfGiven
			}
			return c, nil
		},
	}, nil
}

// current returns the certificate and pool, reloading them if the files
// changed; a failed reload keeps the previous ones and logs.
func (cf *certFiles) current() (*tls.Certificate, *x509.CertPool) {
	now := cf.now()
	cf.mu.Lock()
	due := now.Sub(cf.checked) >= reloadEvery
	cf.mu.Unlock()
	if due {
		if err := cf.load(now); err != nil {
			cf.log.Error("tls reload failed; keeping the previous certificates", "error", err)
		}
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.cert, cf.pool
}

func (cf *certFiles) load(now time.Time) error {
	stamp := ""
	for _, p := range []string{cf.cfg.CertFile, cf.cfg.KeyFile, cf.cfg.ClientCAFile} {
		if p == "" {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			cf.mu.Lock()
			cf.checked = now
			cf.mu.Unlock()
			return fmt.Errorf("tls: %w", err)
		}
		stamp += fmt.Sprintf("%s:%d:%d;", p, st.ModTime().UnixNano(), st.Size())
	}
	cf.mu.Lock()
	same := stamp == cf.stamp && cf.cert != nil
	cf.checked = now
	cf.mu.Unlock()
	if same {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(cf.cfg.CertFile, cf.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	var pool *x509.CertPool
	if cf.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(cf.cfg.ClientCAFile)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls: no certificate in %s", cf.cfg.ClientCAFile)
		}
	}
	cf.mu.Lock()
	if cf.cert != nil {
		cf.log.Info("tls certificates reloaded")
	}
	cf.cert, cf.pool, cf.stamp = &cert, pool, stamp
	cf.mu.Unlock()
	return nil
}
