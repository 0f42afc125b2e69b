package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/pki"
	"cis490/internal/wire"
)

// recorder is a receiver stand-in that serves caPEM at /v1/ca and records
// every request it gets.
type recorder struct {
	mu   sync.Mutex
	seen []string // "METHOD path auth=<yes|no>"
}

func (rec *recorder) handler(caPEM []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := "no"
		if r.Header.Get("Authorization") != "" {
			auth = "yes"
		}
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Method+" "+r.URL.Path+" auth="+auth)
		rec.mu.Unlock()
		if r.URL.Path == wire.CAPath {
			w.Write(caPEM)
			return
		}
		http.Error(w, `{"error":"unauthorized","detail":"no"}`, http.StatusUnauthorized)
	})
}

func labHost(t *testing.T) config.LabHost {
	dir := t.TempDir()
	cfg := config.DefaultLabHost("lab7")
	cfg.Paths.DataDir = filepath.Join(dir, "data")
	cfg.Receiver.TokenFile = filepath.Join(dir, "token")
	cfg.Receiver.CABundle = filepath.Join(dir, "ca.crt")
	cfg.Receiver.ClientCert = filepath.Join(dir, "client.crt")
	cfg.Receiver.ClientKey = filepath.Join(dir, "client.key")
	cfg.Update.PublicKeyFile = ""
	return cfg
}

func TestJoinTrustStopsBeforeTheSecret(t *testing.T) {
	_, servedDER, _ := pki.NewCA("served", time.Now())
	other, _, _ := pki.NewCA("pinned", time.Now())
	tests := []struct {
		name    string
		pin     string
		wantErr error
	}{
		{"wrong pin", pki.Fingerprint(other.Cert.Raw), ErrPinMismatch},
		// The pin matches what /v1/ca serves, but the server's own
		// certificate (httptest's) is not from that CA: a man in the middle.
		{"server not from the pinned CA", pki.Fingerprint(servedDER), nil},
		{"https without pin or ca_bundle", "", ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewTLSServer(rec.handler(pki.EncodeCert(servedDER)))
			defer srv.Close()
			cfg := labHost(t)
			_, err := Join(context.Background(), JoinOptions{URL: srv.URL, Secret: "cis490j_secret", Pin: tt.pin, Config: cfg})
			if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Join: %v, want %v", err, tt.wantErr)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, s := range rec.seen {
				if s != "GET /v1/ca auth=no" {
					t.Errorf("the receiver saw %q; want nothing but an anonymous GET /v1/ca", s)
				}
			}
			for _, f := range []string{cfg.Receiver.ClientKey, cfg.Receiver.TokenFile, cfg.Receiver.CABundle} {
				if _, err := os.Stat(f); err == nil {
					t.Errorf("%s written by a join that stopped", f)
				}
			}
		})
	}
}

func TestRenewFinishesAnInterruptedSwap(t *testing.T) {
	ca, _, _ := pki.NewCA("fleet", time.Now())
	issue := func() (certPEM, keyPEM []byte) {
		k, _ := pki.NewKey()
		is, err := ca.IssueClient("lab7", &k.PublicKey, 90, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		kp, _ := pki.EncodeKey(k)
		return pki.EncodeCert(is.DER), kp
	}
	for _, tt := range []struct {
		name     string
		keyStill bool // the crash came before the key's rename
	}{{"before the key moved", true}, {"between the two renames", false}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := labHost(t)
			f, _ := FilesOf(cfg, true)
			oldCert, oldKey := issue()
			newCert, newKey := issue()
			os.WriteFile(f.Cert, oldCert, 0o644)
			os.WriteFile(f.Key, oldKey, 0o600)
			if tt.keyStill {
				os.WriteFile(nextPath(f.Key), newKey, 0o600)
			} else {
				os.WriteFile(f.Key, newKey, 0o600)
			}
			os.WriteFile(nextPath(f.Cert), newCert, 0o644)
			writeState(f, State{Status: "joined"})
			res, err := Renew(context.Background(), cfg, false, time.Now(), func(context.Context, string) (wire.RenewReply, error) {
				t.Fatal("a renewal that is not due sent a request")
				return wire.RenewReply{}, nil
			})
			if err != nil || res.Status != StatusNotDue {
				t.Fatalf("Renew: %+v, %v", res, err)
			}
			gotCert, _ := os.ReadFile(f.Cert)
			gotKey, _ := os.ReadFile(f.Key)
			if string(gotCert) != string(newCert) || string(gotKey) != string(newKey) {
				t.Fatal("the staged pair was not swapped in")
			}
			for _, p := range []string{nextPath(f.Cert), nextPath(f.Key)} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s left behind", p)
				}
			}
		})
	}
}

func TestRenewOutcomes(t *testing.T) {
	ca, _, _ := pki.NewCA("fleet", time.Now())
	k, _ := pki.NewKey()
	is, _ := ca.IssueClient("lab7", &k.PublicKey, 90, time.Now())
	kp, _ := pki.EncodeKey(k)
	refused := &wire.Error{Status: 403, Code: wire.CodeHostRevoked, Detail: "revoked"}
	tests := []struct {
		name    string
		send    func(ctx context.Context, csr string) (wire.RenewReply, error)
		wantErr error
		status  string
	}{
		{"revoked is refused", func(context.Context, string) (wire.RenewReply, error) { return wire.RenewReply{}, refused }, ErrRefused, StatusFailed},
		{"busy is transient", func(context.Context, string) (wire.RenewReply, error) {
			return wire.RenewReply{}, &wire.Error{Status: 503, Code: wire.CodeBusy}
		}, nil, StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := labHost(t)
			f, _ := FilesOf(cfg, true)
			os.WriteFile(f.Cert, pki.EncodeCert(is.DER), 0o644)
			os.WriteFile(f.Key, kp, 0o600)
			writeState(f, State{Status: "joined"})
			res, err := Renew(context.Background(), cfg, true, time.Now(), tt.send)
			if err == nil || res.Status != tt.status {
				t.Fatalf("Renew: %+v, %v", res, err)
			}
			if (tt.wantErr != nil) != errors.Is(err, ErrRefused) {
				t.Fatalf("Renew error %v: refused = %v, want %v", err, errors.Is(err, ErrRefused), tt.wantErr != nil)
			}
			if got, _ := os.ReadFile(f.Key); string(got) != string(kp) {
				t.Fatal("a failed renewal replaced the key")
			}
			st, _, _ := ReadState(f.Cert)
			if st.Status != StatusFailed {
				t.Fatalf("state %+v, want failed", st)
			}
		})
	}
}

// fakeCA is a receiver stand-in that signs joins over plain HTTP; failFirst
// makes it answer the first join 503 after signing (a lost answer).
type fakeCA struct {
	ca        *pki.CA
	mu        sync.Mutex
	keys      []string // public key sums of the CSRs it saw
	failFirst bool
}

func (f *fakeCA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case wire.CAPath:
		w.Write(pki.EncodeCert(f.ca.Cert.Raw))
	case wire.JoinPath:
		var req wire.JoinRequest
		json.NewDecoder(r.Body).Decode(&req)
		csr, err := pki.CheckCSR(*req.CSR, req.Host)
		if err != nil {
			http.Error(w, `{"error":"bad-csr"}`, http.StatusBadRequest)
			return
		}
		sum, _ := pki.PublicKeySum(csr.PublicKey)
		f.mu.Lock()
		f.keys = append(f.keys, sum)
		fail := f.failFirst
		f.failFirst = false
		f.mu.Unlock()
		if fail {
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return
		}
		is, _ := f.ca.IssueClient(req.Host, csr.PublicKey, 90, time.Now())
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(wire.JoinReply{Host: req.Host, Token: "cis490t_x", Cert: string(pki.EncodeCert(is.DER)),
			CA: string(pki.EncodeCert(f.ca.Cert.Raw)), NotAfter: wire.FormatTime(is.NotAfter), RenewAfter: wire.FormatTime(is.RenewAfter)})
	default:
		http.NotFound(w, r)
	}
}

// TestJoinKeyReuse: a join whose answer did not arrive is retried with the
// same key; a join after a finished one (a host re-admitted, perhaps for a
// leaked key) makes a new key.
func TestJoinKeyReuse(t *testing.T) {
	ca, _, _ := pki.NewCA("fleet", time.Now())
	f := &fakeCA{ca: ca, failFirst: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := labHost(t)
	join := func() error {
		_, err := Join(context.Background(), JoinOptions{URL: srv.URL, Secret: "cis490j_s", Config: cfg})
		return err
	}
	if err := join(); err == nil {
		t.Fatal("first join succeeded; the fake receiver answered 503")
	}
	if err := join(); err != nil {
		t.Fatal(err)
	}
	if err := join(); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.keys) != 3 || f.keys[0] != f.keys[1] || f.keys[2] == f.keys[1] {
		t.Fatalf("keys sent %v: want the retry to reuse the first key, the join after a finished one a new key", f.keys)
	}
}
