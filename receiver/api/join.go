package api

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"cis490/internal/pki"
	"cis490/internal/wire"
	"cis490/receiver/registry"
)

// The join routes (SPEC §14) are never gated and write no attempts rows:
// they concern a host's credentials, not its episodes. GET /v1/ca and
// POST /v1/join are open to hosts without a client certificate and ignore
// client_subject_header; POST /v1/certs/renew authenticates like ping.

// maxJoinBody bounds the JSON body of a join or renewal.
const maxJoinBody = 64 << 10

// PKI is the fleet CA as the API uses it: nil in Options means the receiver
// has no CA (404 pki-off, joins issue tokens only).
type PKI struct {
	CA       *pki.CA
	CAPEM    []byte
	CertDays int
}

// The bodies of the join routes are wire's.
type (
	// JoinRequest is wire.JoinRequest.
	JoinRequest = wire.JoinRequest
	// JoinReply is wire.JoinReply.
	JoinReply = wire.JoinReply
	// RenewRequest is wire.RenewRequest.
	RenewRequest = wire.RenewRequest
	// RenewReply is wire.RenewReply.
	RenewReply = wire.RenewReply
)

// openRoute reports whether path is one of the routes a host without a
// client certificate may use: /healthz, /v1/ca and /v1/join.
func openRoute(path string) bool {
	return path == wire.HealthzPath || path == wire.CAPath || path == wire.JoinPath
}

func pkiOff() *wire.Error {
	return wire.Errorf(http.StatusNotFound, wire.CodePKIOff, "this receiver has no fleet CA (cis490-receiver pki init creates one)")
}

// getCA is GET /v1/ca: the CA certificate, PEM, no auth.
func (h *Handler) getCA(w http.ResponseWriter, r *http.Request) *wire.Error {
	if h.o.PKI == nil {
		return pkiOff()
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Length", fmt.Sprint(len(h.o.PKI.CAPEM)))
	w.WriteHeader(http.StatusOK)
	w.Write(h.o.PKI.CAPEM)
	return nil
}

// readJSONBody decodes one JSON object of at most maxJoinBody bytes.
func readJSONBody(w http.ResponseWriter, r *http.Request, v any) *wire.Error {
	if r.ContentLength > maxJoinBody {
		return wire.Errorf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "the body is limited to %d bytes", maxJoinBody)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJoinBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return wire.Errorf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "the body is limited to %d bytes", maxJoinBody)
		}
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadJSON, "the body could not be read: %v", err)
	}
	if err := decodeObject(b, v); err != nil {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadJSON, "the body must be one JSON object: %v", err)
	}
	return nil
}

// decodeObject decodes exactly one JSON object from b into v.
func decodeObject(b []byte, v any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return errors.New("not an object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	return nil
}

// join is POST /v1/join (SPEC §14).
func (h *Handler) join(w http.ResponseWriter, r *http.Request) *wire.Error {
	e := h.doJoin(w, r)
	status, code := http.StatusCreated, "joined"
	if e != nil {
		status, code = e.Status, e.Code
	}
	h.m.count(&h.m.joins, status, code)
	return e
}

func (h *Handler) doJoin(w http.ResponseWriter, r *http.Request) *wire.Error {
	var req JoinRequest
	if e := readJSONBody(w, r, &req); e != nil {
		return e
	}
	if !wire.ValidHost(req.Host) {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadHost, "%q is not a valid host id", truncate(req.Host, 64))
	}
	secret := wire.BearerToken(r.Header.Get(wire.HeaderAuthorization))
	if secret == "" || h.o.Registry == nil {
		return errUnauthorized("a join needs the secret printed by `cis490-receiver host add`")
	}
	now := h.o.Now()
	var csr *x509.CertificateRequest
	var reply JoinReply
	_, err := h.o.Registry.Update(req.Host, func(e *registry.Entry, exists bool) error {
		if !exists || !registry.SumMatches(e.JoinSHA256, secret) {
			return errUnauthorized("unknown join secret for this host")
		}
		if e.Revoked() {
			return wire.Errorf(http.StatusForbidden, wire.CodeHostRevoked, "host %q has been revoked; `cis490-receiver host add %s` re-opens it", req.Host, req.Host)
		}
		if !e.JoinOpen(now) {
			return errUnauthorized("the join secret expired; run `cis490-receiver host add` again")
		}
		keySum := ""
		if h.o.PKI == nil {
			if req.CSR != nil {
				return wire.Errorf(http.StatusBadRequest, wire.CodePKIOff, "this receiver has no fleet CA: join without a csr for a token only")
			}
		} else {
			if req.CSR == nil {
				return wire.Errorf(http.StatusBadRequest, wire.CodeBadCSR, "a csr is required: this receiver signs host certificates")
			}
			var err error
			if csr, err = pki.CheckCSR(*req.CSR, req.Host); err != nil {
				return wire.Errorf(http.StatusBadRequest, wire.CodeBadCSR, "%v", err)
			}
			if keySum, err = pki.PublicKeySum(csr.PublicKey); err != nil {
				return wire.Errorf(http.StatusBadRequest, wire.CodeBadCSR, "%v", err)
			}
			if e.JoinKeySHA256 != "" && e.JoinKeySHA256 != keySum {
				return wire.Errorf(http.StatusConflict, wire.CodeAlreadyJoined,
					"host %q already joined with another key; `cis490-receiver host add %s` opens a new join", req.Host, req.Host)
			}
		}
		tok, err := registry.NewSecret(registry.TokenPrefix)
		if err != nil {
			return err
		}
		reply = JoinReply{Host: req.Host, Token: tok}
		if csr != nil {
			is, err := h.o.PKI.CA.IssueClient(req.Host, csr.PublicKey, h.o.PKI.CertDays, now)
			if err != nil {
				return err
			}
			reply.Cert, reply.CA = string(pki.EncodeCert(is.DER)), string(h.o.PKI.CAPEM)
			reply.NotAfter, reply.RenewAfter = wire.FormatTime(is.NotAfter), wire.FormatTime(is.RenewAfter)
			// A new join supersedes every earlier certificate of the host.
			e.CertSerial, e.PrevCertSerial, e.CertNotAfter = is.Serial, "", registry.At(is.NotAfter)
		}
		// Each answer voids the previous token: a host whose answer was
		// lost joins again and only the token it finally holds works.
		e.TokenSHA256 = registry.Sum(tok)
		e.JoinKeySHA256 = keySum
		e.JoinedAt = registry.At(now)
		return nil
	})
	if err != nil {
		return h.registryError(req.Host, err)
	}
	h.log.Info("host joined", "host", req.Host, "certificate", csr != nil, "not_after", reply.NotAfter)
	writeJSON(w, http.StatusCreated, reply)
	return nil
}

// registryError turns a failed registry update into the answer: the
// refusal fn chose, 401 for an entry that does not parse (fail closed), or
// 500.
func (h *Handler) registryError(host string, err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	if h.o.Registry.State(host) == registry.Broken || errors.Is(err, registry.ErrUnusable) {
		return errUnauthorized(fmt.Sprintf("the registry entry of host %q cannot be read; the receiver refuses its requests until it is fixed", host))
	}
	return internalError(err)
}

// renew is POST /v1/certs/renew (SPEC §14).
func (h *Handler) renew(w http.ResponseWriter, r *http.Request) *wire.Error {
	e := h.doRenew(w, r)
	status, code := http.StatusOK, "renewed"
	if e != nil {
		status, code = e.Status, e.Code
	}
	h.m.count(&h.m.renewals, status, code)
	return e
}

func (h *Handler) doRenew(w http.ResponseWriter, r *http.Request) *wire.Error {
	who, host, e := h.authenticateHost(r)
	if e != nil {
		return e
	}
	if !who.registryToken || h.o.Registry == nil {
		return errUnauthorized("renewal needs the token this host received when it joined")
	}
	if h.o.PKI == nil {
		return pkiOff()
	}
	var req RenewRequest
	if e := readJSONBody(w, r, &req); e != nil {
		return e
	}
	csr, err := pki.CheckCSR(req.CSR, host)
	if err != nil {
		return wire.Errorf(http.StatusBadRequest, wire.CodeBadCSR, "%v", err)
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		// A renewal is for a new key (SPEC §14): the one in use may be
		// what the host needs to get rid of.
		if cur, ok := r.TLS.PeerCertificates[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && cur.Equal(csr.PublicKey) {
			return wire.Errorf(http.StatusBadRequest, wire.CodeBadCSR, "the CSR carries the key of the certificate in use; a renewal needs a new key")
		}
	}
	now := h.o.Now()
	var reply RenewReply
	_, err = h.o.Registry.Update(host, func(e *registry.Entry, exists bool) error {
		if !exists {
			return errUnauthorized("host is not in the registry")
		}
		if e.Revoked() {
			return wire.Errorf(http.StatusForbidden, wire.CodeHostRevoked, "host %q has been revoked", host)
		}
		if e.CertNotAfter == nil || !now.Before(e.CertNotAfter.Time) {
			return errUnauthorized("the host's certificate has expired (or it never had one): it needs a new join (`cis490-receiver host add`)")
		}
		is, err := h.o.PKI.CA.IssueClient(host, csr.PublicKey, h.o.PKI.CertDays, now)
		if err != nil {
			return err
		}
		reply = RenewReply{Cert: string(pki.EncodeCert(is.DER)), CA: string(h.o.PKI.CAPEM),
			NotAfter: wire.FormatTime(is.NotAfter), RenewAfter: wire.FormatTime(is.RenewAfter)}
		e.PrevCertSerial, e.CertSerial, e.CertNotAfter = e.CertSerial, is.Serial, registry.At(is.NotAfter)
		return nil
	})
	if err != nil {
		return h.registryError(host, err)
	}
	h.log.Info("certificate renewed", "host", host, "not_after", reply.NotAfter)
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// requireClientCert refuses a TLS request without a client certificate on
// every route but the open ones (SPEC §14), when the listener asks for one.
func (h *Handler) requireClientCert(r *http.Request) *wire.Error {
	if !h.o.RequireClientCert || r.TLS == nil || len(r.TLS.PeerCertificates) > 0 || openRoute(r.URL.Path) {
		return nil
	}
	return errUnauthorized("a client certificate signed by the fleet CA is required on this route")
}
