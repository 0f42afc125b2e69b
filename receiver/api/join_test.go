package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"cis490/internal/pki"
	"cis490/internal/wire"
	"cis490/receiver/registry"
)

// joinEnv is an env with a host registry, a fleet CA (unless noCA) and a
// clock the test moves.
type joinEnv struct {
	*env
	reg *registry.View
	ca  *pki.CA
	now time.Time
}

func newJoinEnv(t *testing.T, noCA bool, mod func(*Options)) *joinEnv {
	t.Helper()
	return newJoinEnvOf(t, noCA, mod)
}

// newJoinEnvTB is newJoinEnv for benchmarks: a fleet CA, no changes.
func newJoinEnvTB(b *testing.B) *joinEnv {
	b.Helper()
	return newJoinEnvOf(b, false, nil)
}

func newJoinEnvOf(t testing.TB, noCA bool, mod func(*Options)) *joinEnv {
	je := &joinEnv{now: time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)}
	je.env = newEnv(t, func(o *Options) {
		reg, err := registry.Open(o.Store.Dir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		je.reg = reg
		o.Registry = reg
		o.Auth.UseRegistry(reg)
		o.Gate = fakeGate{unavailable: true} // joins and renewals are never gated
		o.Now = func() time.Time { return je.now }
		if !noCA {
			ca, der, err := pki.NewCA("test CA", je.now)
			if err != nil {
				t.Fatal(err)
			}
			je.ca = ca
			o.PKI = &PKI{CA: ca, CAPEM: pki.EncodeCert(der), CertDays: 90}
		}
		if mod != nil {
			mod(o)
		}
	})
	return je
}

// add opens a join for host and returns its secret.
func (je *joinEnv) add(host string) string {
	je.t.Helper()
	_, secret, err := registry.Add(je.dir, host, time.Hour, je.now)
	if err != nil {
		je.t.Fatal(err)
	}
	if err := je.reg.Refresh(); err != nil {
		je.t.Fatal(err)
	}
	return secret
}

func csrPEM(tb testing.TB, key any, cn string) string {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func joinReq(secret string, body any) *http.Request {
	b, _ := json.Marshal(body)
	r := httptest.NewRequest(http.MethodPost, wire.JoinPath, bytes.NewReader(b))
	if secret != "" {
		r.Header.Set("Authorization", "Bearer "+secret)
	}
	return r
}

func (je *joinEnv) join(secret, host string, key *ecdsa.PrivateKey) (*httptest.ResponseRecorder, JoinReply) {
	je.t.Helper()
	csr := csrPEM(je.t, key, host)
	w := je.do(joinReq(secret, JoinRequest{Host: host, CSR: &csr}))
	var reply JoinReply
	if w.Code == http.StatusCreated {
		if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
			je.t.Fatal(err)
		}
	}
	return w, reply
}

func pingAs(tok, host string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, wire.PingPath, nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set(wire.HeaderHost, host)
	return r
}

func mustKey(tb testing.TB) *ecdsa.PrivateKey {
	k, err := pki.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d %s, want %d %s", w.Code, w.Body, status, code)
	}
	if m := decodeErr(t, w); m["error"] != code {
		t.Fatalf("error %v (%v), want %s", m["error"], m["detail"], code)
	}
}

func TestJoinIssuesCertificateAndToken(t *testing.T) {
	je := newJoinEnv(t, false, nil)
	secret := je.add("lab7")
	key := mustKey(t)
	w, reply := je.join(secret, "lab7", key)
	if w.Code != http.StatusCreated {
		t.Fatalf("join: %d %s", w.Code, w.Body)
	}
	if !strings.HasPrefix(reply.Token, registry.TokenPrefix) || reply.Host != "lab7" {
		t.Fatalf("reply %+v", reply)
	}
	cert, err := pki.ParseCert([]byte(reply.Cert))
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "lab7" || !cert.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatalf("certificate CN %q for another key", cert.Subject.CommonName)
	}
	if got, want := reply.RenewAfter, wire.FormatTime(je.now.Add(60*24*time.Hour)); got != want {
		t.Errorf("renew_after %s, want %s (2/3 of 90 days)", got, want)
	}
	if reply.CA != string(je.options.PKI.CAPEM) {
		t.Error("reply's ca is not the fleet CA")
	}
	// The new token works at once, without a refresh.
	if w := je.do(pingAs(reply.Token, "lab7")); w.Code != http.StatusOK {
		t.Fatalf("ping with the joined token: %d %s", w.Code, w.Body)
	}
	if w := je.do(pingAs(reply.Token, "lab8")); w.Code != http.StatusForbidden {
		t.Fatalf("ping as another host with lab7's token: %d, want 403", w.Code)
	}
	e, _ := registry.Read(je.dir, "lab7")
	if e.CertSerial != pki.SerialHex(cert) || e.JoinedAt == nil || !e.CertNotAfter.Equal(cert.NotAfter) {
		t.Errorf("registry entry %+v does not record the certificate", e)
	}
	b, _ := os.ReadFile(registry.Path(je.dir, "lab7"))
	if bytes.Contains(b, []byte(reply.Token)) || bytes.Contains(b, []byte(secret)) {
		t.Error("the registry file holds a secret itself")
	}
	if len(je.attempts()) != 0 {
		t.Error("a join wrote an attempts row")
	}
	m := je.do(func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, wire.MetricsPath, nil)
		r.Header.Set("Authorization", "Bearer "+sharedToken)
		return r
	}())
	if !strings.Contains(m.Body.String(), `cis490_joins_total{status="201",outcome="joined"} 1`) {
		t.Errorf("metrics lack the join:\n%s", m.Body)
	}
}

func TestLostJoinAnswer(t *testing.T) {
	je := newJoinEnv(t, false, nil)
	secret := je.add("lab7")
	key := mustKey(t)
	_, first := je.join(secret, "lab7", key)
	// The answer was lost: the host joins again with the same secret and key.
	w, second := je.join(secret, "lab7", key)
	if w.Code != http.StatusCreated || second.Token == first.Token {
		t.Fatalf("second join: %d %s; want 201 with a new token", w.Code, w.Body)
	}
	wantError(t, je.do(pingAs(first.Token, "lab7")), http.StatusUnauthorized, wire.CodeUnauthorized)
	if w := je.do(pingAs(second.Token, "lab7")); w.Code != http.StatusOK {
		t.Fatalf("ping with the second token: %d", w.Code)
	}
	before, _ := os.ReadFile(registry.Path(je.dir, "lab7"))
	w, _ = je.join(secret, "lab7", mustKey(t))
	wantError(t, w, http.StatusConflict, wire.CodeAlreadyJoined)
	after, _ := os.ReadFile(registry.Path(je.dir, "lab7"))
	if !bytes.Equal(before, after) {
		t.Error("a refused join changed the registry")
	}
}

func TestJoinRefusals(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	key := mustKey(t)
	good := csrPEM(t, key, "lab7")
	block, _ := pem.Decode([]byte(good))
	broken := append([]byte(nil), block.Bytes...)
	broken[len(broken)-3] ^= 0xff
	brokenPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: broken}))
	otherCN := csrPEM(t, key, "lab8")
	rsaCSR := csrPEM(t, rsaKey, "lab7")
	str := func(s string) *string { return &s }
	tests := []struct {
		name       string
		noCA       bool
		secret     string // "good" is the open secret
		body       any
		raw        string // instead of body
		advance    time.Duration
		revoke     bool
		wantStatus int
		wantCode   string
	}{
		{name: "no secret", secret: "", body: JoinRequest{Host: "lab7", CSR: &good}, wantStatus: 401, wantCode: wire.CodeUnauthorized},
		{name: "unknown secret", secret: registry.JoinPrefix + "nope", body: JoinRequest{Host: "lab7", CSR: &good}, wantStatus: 401, wantCode: wire.CodeUnauthorized},
		{name: "secret of another host", secret: "good", body: JoinRequest{Host: "lab8", CSR: str(csrPEM(t, key, "lab8"))}, wantStatus: 401, wantCode: wire.CodeUnauthorized},
		{name: "expired secret", secret: "good", body: JoinRequest{Host: "lab7", CSR: &good}, advance: time.Hour, wantStatus: 401, wantCode: wire.CodeUnauthorized},
		{name: "revoked host", secret: "good", body: JoinRequest{Host: "lab7", CSR: &good}, revoke: true, wantStatus: 403, wantCode: wire.CodeHostRevoked},
		{name: "CSR with another CN", secret: "good", body: JoinRequest{Host: "lab7", CSR: &otherCN}, wantStatus: 400, wantCode: wire.CodeBadCSR},
		{name: "RSA-1024 key", secret: "good", body: JoinRequest{Host: "lab7", CSR: &rsaCSR}, wantStatus: 400, wantCode: wire.CodeBadCSR},
		{name: "broken signature", secret: "good", body: JoinRequest{Host: "lab7", CSR: &brokenPEM}, wantStatus: 400, wantCode: wire.CodeBadCSR},
		{name: "no CSR with a CA", secret: "good", body: JoinRequest{Host: "lab7"}, wantStatus: 400, wantCode: wire.CodeBadCSR},
		{name: "CSR without a CA", noCA: true, secret: "good", body: JoinRequest{Host: "lab7", CSR: &good}, wantStatus: 400, wantCode: wire.CodePKIOff},
		{name: "bad host", secret: "good", body: JoinRequest{Host: "../x", CSR: &good}, wantStatus: 400, wantCode: wire.CodeBadHost},
		{name: "not JSON", secret: "good", raw: "host=lab7", wantStatus: 400, wantCode: wire.CodeBadJSON},
		{name: "two objects", secret: "good", raw: `{"host":"lab7"}{}`, wantStatus: 400, wantCode: wire.CodeBadJSON},
		{name: "body over 64 KiB", secret: "good", raw: `{"host":"lab7","csr":"` + strings.Repeat("A", 64<<10) + `"}`, wantStatus: 413, wantCode: wire.CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			je := newJoinEnv(t, tt.noCA, nil)
			secret := je.add("lab7")
			if tt.revoke {
				registry.Revoke(je.dir, "lab7", je.now, false)
				je.reg.Refresh()
			}
			je.now = je.now.Add(tt.advance)
			before, _ := os.ReadFile(registry.Path(je.dir, "lab7"))
			if tt.secret == "good" {
				tt.secret = secret
			}
			r := joinReq(tt.secret, tt.body)
			if tt.raw != "" {
				r = httptest.NewRequest(http.MethodPost, wire.JoinPath, strings.NewReader(tt.raw))
				r.Header.Set("Authorization", "Bearer "+tt.secret)
			}
			wantError(t, je.do(r), tt.wantStatus, tt.wantCode)
			after, _ := os.ReadFile(registry.Path(je.dir, "lab7"))
			if !bytes.Equal(before, after) {
				t.Errorf("the refusal changed the registry:\n%s\n->\n%s", before, after)
			}
			if _, err := os.Stat(registry.Path(je.dir, "lab8")); err == nil {
				t.Error("a refused join created an entry")
			}
		})
	}
}

func TestJoinWithoutCAIssuesTokenOnly(t *testing.T) {
	je := newJoinEnv(t, true, nil)
	secret := je.add("lab7")
	w := je.do(joinReq(secret, JoinRequest{Host: "lab7"}))
	if w.Code != http.StatusCreated || strings.Contains(w.Body.String(), `"cert"`) {
		t.Fatalf("token-only join: %d %s", w.Code, w.Body)
	}
	wantError(t, je.do(httptest.NewRequest(http.MethodGet, wire.CAPath, nil)), 404, wire.CodePKIOff)
}

func renewReq(tok, host, csr string) *http.Request {
	b, _ := json.Marshal(RenewRequest{CSR: csr})
	r := httptest.NewRequest(http.MethodPost, wire.RenewPath, bytes.NewReader(b))
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set(wire.HeaderHost, host)
	return r
}

func TestRenewAndRevoke(t *testing.T) {
	je := newJoinEnv(t, false, nil)
	secret := je.add("lab7")
	_, joined := je.join(secret, "lab7", mustKey(t))
	newKey := mustKey(t)

	wantError(t, je.do(renewReq(joined.Token, "lab7", csrPEM(t, newKey, "lab8"))), 400, wire.CodeBadCSR)
	wantError(t, je.do(renewReq(sharedToken, "lab7", csrPEM(t, newKey, "lab7"))), 401, wire.CodeUnauthorized)
	wantError(t, je.do(renewReq(joined.Token, "lab8", csrPEM(t, newKey, "lab8"))), 403, wire.CodeHostMismatch)

	je.now = je.now.Add(61 * 24 * time.Hour)
	w := je.do(renewReq(joined.Token, "lab7", csrPEM(t, newKey, "lab7")))
	if w.Code != http.StatusOK {
		t.Fatalf("renew: %d %s", w.Code, w.Body)
	}
	var rr RenewReply
	json.Unmarshal(w.Body.Bytes(), &rr)
	cert, _ := pki.ParseCert([]byte(rr.Cert))
	if !cert.PublicKey.(*ecdsa.PublicKey).Equal(&newKey.PublicKey) || rr.NotAfter != wire.FormatTime(je.now.Add(90*24*time.Hour)) {
		t.Fatalf("renewed certificate: key or not_after %s wrong", rr.NotAfter)
	}
	if e, _ := registry.Read(je.dir, "lab7"); e.CertSerial != pki.SerialHex(cert) {
		t.Error("the registry does not record the renewed certificate")
	}
	// The certificate a renewal replaced still works; the one before it not.
	first, _ := pki.ParseCert([]byte(joined.Cert))
	withCert := func(c *x509.Certificate) *http.Request {
		r := pingAs(joined.Token, "lab7")
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
		return r
	}
	if w := je.do(withCert(first)); w.Code != http.StatusOK {
		t.Fatalf("ping with the certificate the renewal replaced: %d %s", w.Code, w.Body)
	}
	sameKey := renewReq(joined.Token, "lab7", csrPEM(t, newKey, "lab7"))
	sameKey.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	wantError(t, je.do(sameKey), http.StatusBadRequest, wire.CodeBadCSR)
	w = je.do(renewReq(joined.Token, "lab7", csrPEM(t, newKey, "lab7")))
	json.Unmarshal(w.Body.Bytes(), &rr)
	cert, _ = pki.ParseCert([]byte(rr.Cert))
	wantError(t, je.do(withCert(first)), http.StatusUnauthorized, wire.CodeUnauthorized)
	if w := je.do(withCert(cert)); w.Code != http.StatusOK {
		t.Fatalf("ping with the current certificate: %d %s", w.Code, w.Body)
	}

	// Expired: renewal is refused, a new join is needed.
	je.now = je.now.Add(91 * 24 * time.Hour)
	wantError(t, je.do(renewReq(joined.Token, "lab7", csrPEM(t, newKey, "lab7"))), 401, wire.CodeUnauthorized)
	je.now = je.now.Add(-91 * 24 * time.Hour)

	// Another process revokes: within a refresh every credential naming
	// lab7 is refused as revoked.
	if _, err := registry.Revoke(je.dir, "lab7", je.now, false); err != nil {
		t.Fatal(err)
	}
	je.reg.Refresh()
	wantError(t, je.do(renewReq(joined.Token, "lab7", csrPEM(t, newKey, "lab7"))), 403, wire.CodeHostRevoked)
	wantError(t, je.do(pingAs(joined.Token, "lab7")), 403, wire.CodeHostRevoked)
	wantError(t, je.do(pingAs(sharedToken, "lab7")), 403, wire.CodeHostRevoked)
	body := []byte("episode")
	put := putReq("ep-revoked", body)
	put.Header.Set("Authorization", "Bearer "+joined.Token)
	put.Header.Set(wire.HeaderHost, "lab7")
	wantError(t, je.do(put), 403, wire.CodeHostRevoked)
	hh := httptest.NewRequest(http.MethodPut, wire.HostHealthPrefix+"lab7", strings.NewReader("{}"))
	hh.Header.Set("Authorization", "Bearer "+sharedToken)
	wantError(t, je.do(hh), 403, wire.CodeHostRevoked)
	// A certificate naming lab7 is refused too, whatever the token.
	tlsPing := pingAs(sharedToken, "lab7")
	tlsPing.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	wantError(t, je.do(tlsPing), 403, wire.CodeHostRevoked)
	je.assertNothingStored()
}

func TestBrokenRegistryEntryFailsClosed(t *testing.T) {
	je := newJoinEnv(t, false, nil)
	secret := je.add("lab7")
	_, joined := je.join(secret, "lab7", mustKey(t))
	os.WriteFile(registry.Path(je.dir, "lab7"), []byte(`{"host":"lab7",`), 0o640)
	je.reg.Refresh()
	wantError(t, je.do(pingAs(sharedToken, "lab7")), 401, wire.CodeUnauthorized)
	wantError(t, je.do(pingAs(joined.Token, "lab7")), 401, wire.CodeUnauthorized)
	w, _ := je.join(secret, "lab7", mustKey(t))
	wantError(t, w, 401, wire.CodeUnauthorized)
	if b, _ := os.ReadFile(registry.Path(je.dir, "lab7")); string(b) != `{"host":"lab7",` {
		t.Errorf("the broken file was replaced: %q", b)
	}
}

func TestClientCertificateRequiredButOnOpenRoutes(t *testing.T) {
	je := newJoinEnv(t, false, func(o *Options) { o.RequireClientCert = true })
	secret := je.add("lab7")
	noCert := func(r *http.Request) *http.Request { r.TLS = &tls.ConnectionState{}; return r }
	wantError(t, je.do(noCert(pingAs(sharedToken, "lab1"))), 401, wire.CodeUnauthorized)
	wantError(t, je.do(noCert(renewReq(sharedToken, "lab1", "x"))), 401, wire.CodeUnauthorized)
	if w := je.do(noCert(httptest.NewRequest(http.MethodGet, wire.CAPath, nil))); w.Code != 200 || !strings.Contains(w.Body.String(), "BEGIN CERTIFICATE") {
		t.Fatalf("GET /v1/ca without a certificate: %d", w.Code)
	}
	if w := je.do(noCert(httptest.NewRequest(http.MethodGet, wire.HealthzPath, nil))); w.Code != 200 {
		t.Fatalf("healthz without a certificate: %d", w.Code)
	}
	csr := csrPEM(t, mustKey(t), "lab7")
	if w := je.do(noCert(joinReq(secret, JoinRequest{Host: "lab7", CSR: &csr}))); w.Code != http.StatusCreated {
		t.Fatalf("join without a certificate: %d %s", w.Code, w.Body)
	}
}

// FuzzJoinRequest: any body gets a JSON error with a §14 or body code and
// leaves the registry as it was, unless it is a valid join.
func FuzzJoinRequest(f *testing.F) {
	f.Add([]byte(`{"host":"lab7","csr":"x"}`))
	f.Add([]byte(`{"host":"lab7"}`))
	f.Add([]byte(`{"host":"lab7","csr":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"host":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		je := newJoinEnv(t, false, nil)
		secret := je.add("lab7")
		before, _ := os.ReadFile(registry.Path(je.dir, "lab7"))
		r := httptest.NewRequest(http.MethodPost, wire.JoinPath, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+secret)
		w := je.do(r)
		if w.Code == http.StatusCreated {
			return
		}
		m := decodeErr(t, w)
		switch m["error"] {
		case wire.CodeBadJSON, wire.CodeBadHost, wire.CodeBadCSR, wire.CodeTooLarge, wire.CodeUnauthorized:
		default:
			t.Fatalf("status %d error %v", w.Code, m["error"])
		}
		after, _ := os.ReadFile(registry.Path(je.dir, "lab7"))
		if !bytes.Equal(before, after) {
			t.Fatal("a refused join changed the registry")
		}
	})
}

// FuzzRenewRequest: the same for renewal bodies from a joined host.
func FuzzRenewRequest(f *testing.F) {
	f.Add([]byte(`{"csr":"x"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"csr":"-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		je := newJoinEnv(t, false, nil)
		secret := je.add("lab7")
		_, joined := je.join(secret, "lab7", mustKey(t))
		before, _ := os.ReadFile(registry.Path(je.dir, "lab7"))
		r := httptest.NewRequest(http.MethodPost, wire.RenewPath, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+joined.Token)
		r.Header.Set(wire.HeaderHost, "lab7")
		w := je.do(r)
		if w.Code == http.StatusOK {
			return
		}
		if m := decodeErr(t, w); m["error"] != wire.CodeBadJSON && m["error"] != wire.CodeBadCSR && m["error"] != wire.CodeTooLarge {
			t.Fatalf("status %d error %v", w.Code, m["error"])
		}
		after, _ := os.ReadFile(registry.Path(je.dir, "lab7"))
		if !bytes.Equal(before, after) {
			t.Fatal("a refused renewal changed the registry")
		}
	})
}
