package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cis490/receiver/datadir"
)

// ReloadEvery is how often a running receiver looks for registry files
// changed by another process; SPEC §14 allows 2 s.
const ReloadEvery = time.Second

// State is what the registry says about a host named by a request.
type State int

// States of a host in the registry.
const (
	// Unlisted: no entry; other credentials ([auth.hosts], the shared
	// token, a certificate from an operator's own CA) decide alone.
	Unlisted State = iota
	// Listed: a usable entry.
	Listed
	// Revoked: every request naming the host is 403 host-revoked.
	Revoked
	// Broken: the entry's file does not parse; requests naming the host
	// fail closed with 401 until it is fixed.
	Broken
)

// View is a running receiver's in-memory copy of the registry, refreshed
// from disk by Run and updated at once by its own writes. Lookups take a
// read lock and touch no file. It is safe for concurrent use.
type View struct {
	dataDir string
	log     *slog.Logger

	mu     sync.RWMutex
	stamps map[string]stamp  // file name -> stamp of the version loaded
	hosts  map[string]Entry  // usable entries
	broken map[string]string // host -> why its file is unusable
	tokens map[string]string // token sum -> host
}

type stamp struct {
	size  int64
	mtime time.Time
}

// Open loads the registry under dataDir. A missing directory is an empty
// registry; a file that does not parse is logged and its host fails closed.
func Open(dataDir string, log *slog.Logger) (*View, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &View{dataDir: dataDir, log: log, stamps: map[string]stamp{}, hosts: map[string]Entry{},
		broken: map[string]string{}, tokens: map[string]string{}}
	if err := v.Refresh(); err != nil {
		return nil, err
	}
	return v, nil
}

// Run refreshes the view every ReloadEvery until ctx ends.
func (v *View) Run(ctx context.Context) {
	t := time.NewTicker(ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := v.Refresh(); err != nil {
				v.log.Error("host registry refresh failed; keeping the previous view", "error", err)
			}
		}
	}
}

// Refresh re-reads the files that changed since the last look.
func (v *View) Refresh() error {
	dir := datadir.New(v.dataDir).Hosts()
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		des = nil
	} else if err != nil {
		return fmt.Errorf("host registry: %w", err)
	}
	seen := make(map[string]stamp, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		seen[name] = stamp{size: fi.Size(), mtime: fi.ModTime()}
	}
	v.mu.RLock()
	var changed, gone []string
	for name, st := range seen {
		if old, ok := v.stamps[name]; !ok || old != st {
			changed = append(changed, name)
		}
	}
	for name := range v.stamps {
		if _, ok := seen[name]; !ok {
			gone = append(gone, name)
		}
	}
	v.mu.RUnlock()
	if len(changed) == 0 && len(gone) == 0 {
		return nil
	}
	type loaded struct {
		host string
		e    Entry
		err  error
	}
	var ls []loaded
	for _, name := range changed {
		host := strings.TrimSuffix(name, ".json")
		e, err := readEntry(filepath.Join(dir, name), host)
		if errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, name)
			continue
		}
		ls = append(ls, loaded{host, e, err})
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, name := range gone {
		host := strings.TrimSuffix(name, ".json")
		v.forget(host)
		delete(v.stamps, name)
		v.log.Info("host registry entry removed", "host", host)
	}
	for _, l := range ls {
		v.stamps[l.host+".json"] = seen[l.host+".json"]
		if l.err != nil {
			v.forget(l.host)
			v.broken[l.host] = l.err.Error()
			v.log.Error("host registry file unusable; the host's requests are refused", "host", l.host, "error", l.err)
			continue
		}
		v.set(l.e)
	}
	return nil
}

// forget drops host from every index; the caller holds mu.
func (v *View) forget(host string) {
	if old, ok := v.hosts[host]; ok && old.TokenSHA256 != "" && v.tokens[old.TokenSHA256] == host {
		delete(v.tokens, old.TokenSHA256)
	}
	delete(v.hosts, host)
	delete(v.broken, host)
}

// set installs e; the caller holds mu.
func (v *View) set(e Entry) {
	v.forget(e.Host)
	v.hosts[e.Host] = e
	if e.TokenSHA256 != "" {
		v.tokens[e.TokenSHA256] = e.Host
	}
}

// TokenHost returns the host whose registry token is tok. The lookup is by
// the token's sha256, so its time says nothing about the token itself.
func (v *View) TokenHost(tok string) (string, bool) {
	if !strings.HasPrefix(tok, TokenPrefix) {
		return "", false
	}
	sum := Sum(tok)
	v.mu.RLock()
	defer v.mu.RUnlock()
	h, ok := v.tokens[sum]
	return h, ok
}

// State returns what the registry says about host.
func (v *View) State(host string) State {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if _, ok := v.broken[host]; ok {
		return Broken
	}
	e, ok := v.hosts[host]
	switch {
	case !ok:
		return Unlisted
	case e.Revoked():
		return Revoked
	}
	return Listed
}

// CertAccepted reports whether a certificate with this serial (lowercase
// hex) may speak for host: any, when the registry records no certificate
// for it, else only the current one and the one its last renewal replaced.
func (v *View) CertAccepted(host, serial string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	e, ok := v.hosts[host]
	if !ok || e.CertSerial == "" {
		return true
	}
	return serial == e.CertSerial || serial == e.PrevCertSerial
}

// Len returns the number of entries, unusable ones included.
func (v *View) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.hosts) + len(v.broken)
}

// Entry returns host's entry as the view holds it.
func (v *View) Entry(host string) (Entry, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	e, ok := v.hosts[host]
	return e, ok
}

// Update is the package's Update that also installs the result in the view
// at once, so the server's own writes need no refresh to take effect.
func (v *View) Update(host string, fn func(e *Entry, exists bool) error) (Entry, error) {
	e, err := Update(v.dataDir, host, fn)
	if err != nil {
		return e, err
	}
	v.mu.Lock()
	v.set(e)
	if fi, err := os.Stat(Path(v.dataDir, host)); err == nil {
		v.stamps[host+".json"] = stamp{size: fi.Size(), mtime: fi.ModTime()}
	}
	v.mu.Unlock()
	return e, nil
}
