package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"

	"cis490/internal/config"
	"cis490/internal/wire"
	"cis490/receiver/registry"
)

// Auth authenticates requests (SPEC §6, §13 Identity): a shared bearer
// token, per-host tokens, the verified client certificate of an in-process
// TLS listener, and the subject header set by a TLS front end on loopback.
type Auth struct {
	shared        [][sha256.Size]byte
	hosts         []hostToken
	subjectHeader string
	// registry holds the tokens of joined hosts and who is revoked
	// (SPEC §14); nil: no registry.
	registry *registry.View
}

// UseRegistry makes a's checks consult the host registry: its tokens
// authenticate their hosts, and a revoked host (or one whose entry does not
// parse) is refused whatever credential names it.
func (a *Auth) UseRegistry(v *registry.View) { a.registry = v }

type hostToken struct {
	host string
	sum  [sha256.Size]byte
}

// LoadAuth reads the token files named by cfg. subjectHeaderOK says whether
// the listener is a loopback address, the only place client_subject_header
// is honoured. Warnings (auth off, loose token modes, an ignored subject
// header) go to log. Tokens are never logged.
func LoadAuth(cfg config.Auth, subjectHeaderOK bool, log *slog.Logger) (*Auth, error) {
	a := &Auth{}
	if cfg.Token != "" {
		a.shared = append(a.shared, sha256.Sum256([]byte(cfg.Token)))
	}
	if cfg.TokenFile != "" {
		tok, err := readToken(cfg.TokenFile, log)
		if err != nil {
			return nil, err
		}
		a.shared = append(a.shared, sha256.Sum256([]byte(tok)))
	}
	hosts := make([]string, 0, len(cfg.Hosts))
	for h := range cfg.Hosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		tok, err := readToken(cfg.Hosts[h], log)
		if err != nil {
			return nil, err
		}
		a.hosts = append(a.hosts, hostToken{host: h, sum: sha256.Sum256([]byte(tok))})
	}
	if cfg.ClientSubjectHeader != "" {
		if subjectHeaderOK {
			a.subjectHeader = cfg.ClientSubjectHeader
		} else {
			log.Warn("client_subject_header ignored: the listener is not a loopback address", "header", cfg.ClientSubjectHeader)
		}
	}
	return a, nil
}

func readToken(path string, log *slog.Logger) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		log.Warn("token file is readable by group or other", "file", path, "mode", fmt.Sprintf("%04o", st.Mode().Perm()))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// TokensConfigured reports whether any bearer token is required: one is
// configured, or the host registry lists a host.
func (a *Auth) TokensConfigured() bool {
	return len(a.shared) > 0 || len(a.hosts) > 0 || a.registry != nil && a.registry.Len() > 0
}

// SubjectHeader returns the client-subject header honoured on this
// listener, or "" when none is.
func (a *Auth) SubjectHeader() string { return a.subjectHeader }

// identity is what a request proved about its sender. Each field is a host
// id a credential is bound to, or empty.
type identity struct {
	tokenHost   string
	certHost    string
	subjectHost string
	// certNamesNothing says a client certificate was presented whose CN
	// and DNS SANs are empty: it proves no host, so it may act as none.
	certNamesNothing bool
	// registryToken says the token is a joined host's registry token.
	registryToken bool
	registry      *registry.View
}

var errUnauthorized = func(detail string) *wire.Error {
	return &wire.Error{Status: http.StatusUnauthorized, Code: wire.CodeUnauthorized, Detail: detail}
}

// Authenticate checks the request's credentials (row 1 of SPEC §4.2).
func (a *Auth) Authenticate(r *http.Request) (identity, *wire.Error) {
	who := identity{registry: a.registry}
	if a.subjectHeader != "" {
		subj := r.Header.Get(a.subjectHeader)
		if subj == "" {
			return who, errUnauthorized("no verified client certificate subject")
		}
		who.subjectHost = subjectCN(subj)
		if who.subjectHost == "" {
			return who, errUnauthorized("the client certificate subject names no host")
		}
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		leaf := r.TLS.PeerCertificates[0]
		who.certHost = CertHost(leaf)
		who.certNamesNothing = who.certHost == ""
		if a.registry != nil && who.certHost != "" && !a.registry.CertAccepted(who.certHost, leaf.SerialNumber.Text(16)) {
			return who, errUnauthorized("this client certificate was replaced by a newer one (renewal or a new join)")
		}
	}
	if !a.TokensConfigured() {
		return who, who.registryCheck()
	}
	tok := wire.BearerToken(r.Header.Get(wire.HeaderAuthorization))
	if tok == "" {
		return who, errUnauthorized("missing bearer token")
	}
	sum := sha256.Sum256([]byte(tok))
	ok := 0
	for _, s := range a.shared {
		ok |= subtle.ConstantTimeCompare(sum[:], s[:])
	}
	for _, h := range a.hosts {
		if subtle.ConstantTimeCompare(sum[:], h.sum[:]) == 1 {
			ok = 1
			who.tokenHost = h.host
		}
	}
	if ok != 1 && a.registry != nil {
		if h, found := a.registry.TokenHost(tok); found {
			ok, who.tokenHost, who.registryToken = 1, h, true
		}
	}
	if ok != 1 {
		return who, errUnauthorized("unknown bearer token")
	}
	return who, who.registryCheck()
}

// registryCheck refuses an identity whose credentials name a revoked host
// (403 host-revoked) or a host whose registry entry does not parse (401:
// fail closed).
func (who identity) registryCheck() *wire.Error {
	for _, h := range []string{who.tokenHost, who.certHost, who.subjectHost} {
		if e := who.hostState(h); e != nil {
			return e
		}
	}
	return nil
}

// hostState is the registry's verdict on one host a request names.
func (who identity) hostState(host string) *wire.Error {
	if host == "" || who.registry == nil {
		return nil
	}
	switch who.registry.State(host) {
	case registry.Revoked:
		return wire.Errorf(http.StatusForbidden, wire.CodeHostRevoked, "host %q has been revoked; the operator can re-admit it with `cis490-receiver host add %s`", host, host)
	case registry.Broken:
		return errUnauthorized(fmt.Sprintf("the registry entry of host %q cannot be read; the receiver refuses its requests until it is fixed", host))
	}
	return nil
}

// bindHost checks X-Cis490-Host (row 4): it must be a valid host id and
// every credential bound to a host must name the same one.
func (who identity) bindHost(header string) (string, *wire.Error) {
	if header == "" {
		return "", wire.Errorf(http.StatusBadRequest, wire.CodeBadHost, "the %s header is missing", wire.HeaderHost)
	}
	if !wire.ValidHost(header) {
		return "", wire.Errorf(http.StatusBadRequest, wire.CodeBadHost, "%q is not a valid host id", truncate(header, 64))
	}
	if e := who.mayActAs(header); e != nil {
		return "", e
	}
	return header, nil
}

// mayActAs refuses with 403 when a host-bound credential names another host,
// and refuses a host the registry has revoked or cannot read.
func (who identity) mayActAs(host string) *wire.Error {
	if e := who.hostState(host); e != nil {
		return e
	}
	if who.certNamesNothing {
		return wire.Errorf(http.StatusForbidden, wire.CodeHostMismatch, "the client certificate names no host (empty CN and no DNS SAN), so it may act for none")
	}
	for _, c := range []struct{ what, host string }{
		{"token", who.tokenHost}, {"client certificate", who.certHost}, {"client certificate subject", who.subjectHost},
	} {
		if c.host != "" && c.host != host {
			return wire.Errorf(http.StatusForbidden, wire.CodeHostMismatch, "the %s belongs to host %q, not %q", c.what, c.host, host)
		}
	}
	return nil
}

// provenHost is the host a request's credentials prove, the one its
// attempts row records (SPEC §6): a per-host or registry token's host, else
// the client certificate's, else the subject header's; only when no
// credential names a host (the shared token, auth off) is it the host as
// claimed in X-Cis490-Host. A credential naming another host than claimed
// is refused (403 host-mismatch), and the row still names the proven host,
// so one host cannot write rows under another's name.
func (who identity) provenHost(claimed string) string {
	for _, h := range []string{who.tokenHost, who.certHost, who.subjectHost} {
		if h != "" {
			return h
		}
	}
	return claimed
}

// CertHost returns the host a client certificate names: its subject CN, or
// its first DNS SAN when the CN is empty.
func CertHost(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return ""
}

// subjectCN extracts CN from a subject in RFC 2253 form ("CN=lab1,O=Lab"),
// as a TLS front end renders it; backslash escapes are honoured.
func subjectCN(s string) string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == ',' || c == '+':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	for _, p := range parts {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "CN") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// authenticate is Auth.Authenticate for a handler: a refusal is counted in
// /metrics (401s write no attempts row, SPEC §4.2).
func (h *Handler) authenticate(r *http.Request) (identity, *wire.Error) {
	who, e := h.o.Auth.Authenticate(r)
	if e != nil {
		h.m.unauthorized.Add(1)
	}
	return who, e
}

// authenticateHost authenticates r and binds it to the host its
// X-Cis490-Host names (SPEC §4.2 rows 1 and 4), as ping and renewal need.
func (h *Handler) authenticateHost(r *http.Request) (identity, string, *wire.Error) {
	who, e := h.authenticate(r)
	if e != nil {
		return who, "", e
	}
	host, e := who.bindHost(r.Header.Get(wire.HeaderHost))
	return who, host, e
}
