package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strconv"

	"cis490/internal/wire"
	"cis490/receiver/releases"
)

// The release routes (SPEC §15) answer any valid token, are never gated and
// write no attempts rows: a host on stale code must be able to fetch the
// cure. Without a published release they answer 404 no-release.

func noRelease() *wire.Error {
	return wire.Errorf(http.StatusNotFound, wire.CodeNoRelease, "no release has been published on this receiver")
}

// currentRelease authenticates r and reads the current release.
func (h *Handler) currentRelease(r *http.Request) (releases.Current, *wire.Error) {
	if _, e := h.authenticate(r); e != nil {
		return releases.Current{}, e
	}
	if h.o.Releases == nil {
		return releases.Current{}, noRelease()
	}
	c, err := h.o.Releases.Current()
	if errors.Is(err, releases.ErrNoRelease) {
		return c, noRelease()
	}
	if err != nil {
		return c, internalError(err)
	}
	return c, nil
}

func writeBytes(w http.ResponseWriter, ctype string, b []byte) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// getReleaseManifest is GET /v1/releases/current: the signed bytes as published.
func (h *Handler) getReleaseManifest(w http.ResponseWriter, r *http.Request) *wire.Error {
	c, e := h.currentRelease(r)
	if e != nil {
		return e
	}
	// The hourly check of 50 hosts must be invisible: a host that holds the
	// manifest already gets a bodiless 304 and skips the signature.
	sum := sha256.Sum256(c.Manifest)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeBytes(w, "application/json", c.Manifest)
	return nil
}

// getReleaseSig is GET /v1/releases/current.sig.
func (h *Handler) getReleaseSig(w http.ResponseWriter, r *http.Request) *wire.Error {
	c, e := h.currentRelease(r)
	if e != nil {
		return e
	}
	writeBytes(w, "text/plain; charset=utf-8", c.Sig)
	return nil
}

// getReleaseKey is GET /v1/releases/key: the public key of [releases]
// public_key_file, which `shipper join` installs on a new host.
func (h *Handler) getReleaseKey(w http.ResponseWriter, r *http.Request) *wire.Error {
	if _, e := h.authenticate(r); e != nil {
		return e
	}
	if h.o.ReleaseKeyFile == "" {
		return noRelease()
	}
	b, err := os.ReadFile(h.o.ReleaseKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		return noRelease()
	}
	if err != nil || len(b) > 16<<10 {
		return internalError(errors.New("the release public key is unreadable"))
	}
	writeBytes(w, "application/x-pem-file", b)
	return nil
}

// getReleaseFile is GET /v1/releases/files/<file>, with Range support.
func (h *Handler) getReleaseFile(w http.ResponseWriter, r *http.Request) *wire.Error {
	if _, e := h.currentRelease(r); e != nil {
		return e
	}
	name := r.PathValue("file")
	f, err := h.o.Releases.OpenFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return wire.Errorf(http.StatusNotFound, wire.CodeNotFound, "no release file %q", truncate(name, 128))
	}
	if err != nil {
		return internalError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return internalError(err)
	}
	w.Header().Set("Content-Type", "application/gzip")
	http.ServeContent(w, r, "", fi.ModTime(), f)
	return nil
}

// getFleet is GET /v1/fleet: the fleet view (SPEC §16), for any valid
// token like GET /v1/host-health.
func (h *Handler) getFleet(w http.ResponseWriter, r *http.Request) *wire.Error {
	if _, e := h.authenticate(r); e != nil {
		return e
	}
	if h.o.Fleet == nil {
		return wire.Errorf(http.StatusNotFound, wire.CodeNotFound, "the fleet view is not available here")
	}
	v, err := h.o.Fleet()
	if err != nil {
		return internalError(err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
