package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"cis490/internal/enroll"
	"cis490/internal/pki"
)

// TestCertRenewalCheck: for a certificate that came from a join (a renewal
// state file beside it), an overdue renewal warns with cert-renew as the
// fix, and a revoked or expired host fails with a new join as the fix.
func TestCertRenewalCheck(t *testing.T) {
	ca, _, err := pki.NewCA("fleet", now.Add(-400*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	issue := func(s *scratch, issuedAt time.Time) {
		key, _ := pki.NewKey()
		is, err := ca.IssueClient("lab1", &key.PublicKey, 90, issuedAt)
		if err != nil {
			t.Fatal(err)
		}
		kpem, _ := pki.EncodeKey(key)
		s.write("etc/lab1.pem", string(pki.EncodeCert(is.DER)), 0o644)
		s.write("etc/lab1.key", string(kpem), 0o600)
		s.write("etc/ca.pem", string(pki.EncodeCert(ca.Cert.Raw)), 0o644)
	}
	state := func(s *scratch, body string) {
		s.write(filepath.Join("etc", filepath.Base(enroll.StatePath(s.path("etc/lab1.pem")))), body, 0o644)
	}
	tests := []struct {
		name         string
		setup        func(s *scratch)
		status       Status
		summary, fix string
	}{
		{"fresh", func(s *scratch) { issue(s, now.Add(-time.Hour)); state(s, `{"status":"joined"}`) }, OK, "key matches", ""},
		// Issued by a receiver whose clock is 2 minutes ahead of this host's:
		// NotBefore lies 5 minutes before the issue, so it is valid here.
		{"host clock 2 minutes behind", func(s *scratch) { issue(s, now.Add(2*time.Minute)); state(s, `{"status":"joined"}`) }, OK, "key matches", ""},
		{"renewal due but within a day", func(s *scratch) {
			issue(s, now.Add(-61*24*time.Hour))
			state(s, `{"status":"joined"}`)
		}, OK, "key matches", ""},
		{"renewal overdue by more than a day", func(s *scratch) {
			issue(s, now.Add(-62*24*time.Hour))
			state(s, `{"status":"failed","error":"dial tcp: connection refused"}`)
		}, Warn, "renewal overdue since", "cis490-shipper cert-renew"},
		{"revoked", func(s *scratch) {
			issue(s, now.Add(-time.Hour))
			state(s, `{"status":"failed","error":"host-revoked: renew: 403 host-revoked: revoked"}`)
		}, Fail, "revoked this host", "host add lab1"},
		{"expired", func(s *scratch) {
			issue(s, now.Add(-91*24*time.Hour))
			state(s, `{"status":"renewed"}`)
		}, Fail, "expired", "host add lab1"},
		{"overdue without a join is not judged", func(s *scratch) {
			issue(s, now.Add(-62*24*time.Hour))
			os.Remove(enroll.StatePath(s.path("etc/lab1.pem")))
		}, OK, "key matches", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			tt.setup(s)
			wantResult(t, s.run(certs), tt.status, tt.summary, tt.fix)
		})
	}
}
