package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"cis490/internal/cmdline"
	"cis490/internal/config"
)

// reloadEvery bounds how stale a renewed certificate may be: files are
// re-checked at most this often, so new connections use renewed files
// within 10 s (SPEC §13).
const reloadEvery = 5 * time.Second

// certFiles holds the server certificate and the client CA, each reloaded
// on its own when its files' modification times or sizes change: a broken
// server.crt never holds back a client-CA rotation, nor the reverse. Each
// keeps its last good version and logs what failed.
type certFiles struct {
	cfg config.TLS
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	checked time.Time
	pair    reloaded[*tls.Certificate]
	ca      reloaded[*x509.CertPool]
}

// reloaded is one part of the TLS material: its last good value, the stamp
// of the files it came from, and the stamp of the last failed attempt (so a
// broken file is logged once, not every few seconds).
type reloaded[T any] struct {
	val       T
	stamp     string
	badStamp  string
	loadedOne bool
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

// current returns the certificate and pool, reloading whichever files
// changed; a failed reload keeps the previous version of that part.
func (cf *certFiles) current() (*tls.Certificate, *x509.CertPool) {
	now := cf.now()
	cf.mu.Lock()
	due := now.Sub(cf.checked) >= reloadEvery
	cf.mu.Unlock()
	if due {
		_ = cf.load(now) // failures are logged per part
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.pair.val, cf.ca.val
}

// load re-checks both parts. It returns the first failure of a part that
// has never loaded (start-up), nil once both have a good version.
func (cf *certFiles) load(now time.Time) error {
	cf.mu.Lock()
	cf.checked = now
	cf.mu.Unlock()
	err := reload(cf, &cf.pair, "server certificate", []string{cf.cfg.CertFile, cf.cfg.KeyFile}, func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(cf.cfg.CertFile, cf.cfg.KeyFile)
		return &c, err
	})
	if cf.cfg.ClientCAFile == "" {
		return err
	}
	caErr := reload(cf, &cf.ca, "client CA", []string{cf.cfg.ClientCAFile}, func() (*x509.CertPool, error) {
		pem, err := os.ReadFile(cf.cfg.ClientCAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", cf.cfg.ClientCAFile)
		}
		return pool, nil
	})
	if err == nil {
		err = caErr
	}
	return err
}

// reload loads part from files when their stamp changed. A failure leaves
// the last good value in place, is logged once per stamp, and is returned
// only while the part has never loaded.
func reload[T any](cf *certFiles, part *reloaded[T], what string, files []string, load func() (T, error)) error {
	stamp := ""
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			stamp += p + ":missing;"
			continue
		}
		stamp += fmt.Sprintf("%s:%d:%d;", p, st.ModTime().UnixNano(), st.Size())
	}
	cf.mu.Lock()
	same := part.loadedOne && stamp == part.stamp
	known := stamp == part.badStamp
	first := !part.loadedOne
	cf.mu.Unlock()
	if same {
		return nil
	}
	v, err := load()
	if err != nil {
		err = fmt.Errorf("tls: %s: %w", what, err)
		if first {
			return err
		}
		if !known {
			cf.log.Error("tls reload failed; keeping the previous version", "part", what, cmdline.ErrorKey, err)
		}
		cf.mu.Lock()
		part.badStamp = stamp
		cf.mu.Unlock()
		return nil
	}
	cf.mu.Lock()
	if part.loadedOne {
		cf.log.Info("tls files reloaded", "part", what)
	}
	part.val, part.stamp, part.badStamp, part.loadedOne = v, stamp, "", true
	cf.mu.Unlock()
	return nil
}
