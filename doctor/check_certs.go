package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"cis490/internal/enroll"
	"cis490/internal/pki"
	"cis490/internal/wire"
)

// certCheck: the CA bundle and client certificate are present, readable, the
// key matches, nothing has expired, nothing expires within cert_warn_days,
// and the certificate names this host (SPEC §6, §9).
type certCheck struct{ h *host }

func (certCheck) Name() string { return "certificates" }

func (c certCheck) Run(context.Context) Result {
	h := c.h
	if !h.configured() {
		return skipNoConfig
	}
	rc := h.cfg.Receiver
	if rc.CABundle == "" && rc.ClientCert == "" {
		return result(Skip, "", "no ca_bundle or client_cert configured")
	}
	now := h.env.Now()
	warnWithin := time.Duration(h.cfg.Doctor.CertWarnDays) * 24 * time.Hour
	var problems []Result
	var notes []string

	if rc.CABundle != "" {
		certs, bad := readCerts("ca_bundle", rc.CABundle, h.who())
		if bad != nil {
			return *bad
		}
		for _, cert := range certs {
			if r := expiry("ca_bundle "+subject(cert), cert, now, warnWithin); r != nil {
				problems = append(problems, *r)
			}
		}
		notes = append(notes, fmt.Sprintf("ca_bundle %d certificate(s)", len(certs)))
	}
	if rc.ClientCert != "" {
		certPEM, bad := readFile("client_cert", rc.ClientCert, h.who())
		if bad != nil {
			return *bad
		}
		keyPEM, bad := readFile("client_key", rc.ClientKey, h.who())
		if bad != nil {
			return *bad
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			if strings.Contains(err.Error(), "does not match") {
				return result(Fail, "", "client_key %s does not match client_cert %s", rc.ClientKey, rc.ClientCert)
			}
			return result(Fail, "", "client_cert %s / client_key %s: %v", rc.ClientCert, rc.ClientKey, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return result(Fail, "", "client_cert %s: %v", rc.ClientCert, err)
		}
		// A joined host's renewal verdict first: its fixes name the command.
		if r := renewal(h.cfg.HostID, rc.ClientCert, leaf, now); r != nil {
			problems = append(problems, *r)
		}
		if r := expiry("client_cert "+rc.ClientCert, leaf, now, warnWithin); r != nil {
			problems = append(problems, *r)
		}
		if name := certHost(leaf); name != h.cfg.HostID {
			problems = append(problems, result(Fail, "",
				"client_cert names %q but host_id is %q: the receiver answers 403 host-mismatch", name, h.cfg.HostID))
		}
		notes = append(notes, fmt.Sprintf("client_cert %s valid until %s, key matches",
			subject(leaf), leaf.NotAfter.UTC().Format(time.DateOnly)))
	}
	worst := OK
	for _, p := range problems {
		if p.Status.rank() > worst.rank() {
			worst = p.Status
		}
	}
	for _, p := range problems {
		if p.Status == worst {
			return p
		}
	}
	return result(OK, "", "%s", strings.Join(notes, "; "))
}

// renewal checks a certificate that came from a join (SPEC §14): revoked or
// expired fails (the fix is a new join), a renewal overdue by more than a
// day warns (the fix is cert-renew). Hosts without a renewal state file
// (certificates from an operator's own CA) are not judged here.
func renewal(hostID, clientCert string, leaf *x509.Certificate, now time.Time) *Result {
	st, joined, err := enroll.ReadState(clientCert)
	if !joined {
		return nil
	}
	rejoin := fmt.Sprintf("on the receiver: cis490-receiver host add %s; then here the join line it prints", hostID)
	var r Result
	switch renewAfter := pki.RenewAfter(leaf); {
	case err != nil:
		r = result(Warn, renewCmd, "renewal state unreadable: %v", err)
	case strings.HasPrefix(st.Error, wire.CodeHostRevoked):
		r = result(Fail, rejoin, "the receiver revoked this host (last renewal %s: %s)", st.At, st.Error)
	case !now.Before(leaf.NotAfter):
		r = result(Fail, rejoin, "client_cert expired on %s: an expired certificate cannot renew; the host needs a new join", wire.FormatTime(leaf.NotAfter))
	case now.Sub(renewAfter) > 24*time.Hour:
		detail := ""
		if st.Status == enroll.StatusFailed && st.Error != "" {
			detail = "; last attempt: " + st.Error
		}
		r = result(Warn, renewCmd, "certificate renewal overdue since %s (cis490-cert-renew.timer)%s", wire.FormatTime(renewAfter), detail)
	default:
		return nil
	}
	return &r
}

// renewCmd renews the certificate by hand, as the timer's service would.
const renewCmd = "sudo -u cis490 cis490-shipper cert-renew"

// readFile reads a credential file, or returns the failed Result.
func readFile(key, path, who string) ([]byte, *Result) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, fs.ErrNotExist):
		r := result(Fail, "", "%s %s is missing", key, path)
		return nil, &r
	case errors.Is(err, fs.ErrPermission):
		r := result(Fail, fmt.Sprintf("sudo chgrp cis490 %s && sudo chmod g+r %s", path, path),
			"%s %s is not readable by %s", key, path, who)
		return nil, &r
	}
	r := result(Fail, "", "%s %s: %v", key, path, err)
	return nil, &r
}

// readCerts reads every certificate of a PEM bundle.
func readCerts(key, path, who string) ([]*x509.Certificate, *Result) {
	b, bad := readFile(key, path, who)
	if bad != nil {
		return nil, bad
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			r := result(Fail, "", "%s %s: %v", key, path, err)
			return nil, &r
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		r := result(Fail, "", "%s %s holds no PEM certificate", key, path)
		return nil, &r
	}
	return certs, nil
}

// expiry returns a failed Result for a certificate outside its validity, a
// warning for one that expires within warnWithin, and nil otherwise.
func expiry(what string, cert *x509.Certificate, now time.Time, warnWithin time.Duration) *Result {
	var r Result
	switch left := cert.NotAfter.Sub(now); {
	case now.Before(cert.NotBefore):
		r = result(Fail, "timedatectl status", "%s is not valid before %s (is the clock right?)",
			what, wire.FormatTime(cert.NotBefore))
	case left <= 0:
		r = result(Fail, "", "%s expired on %s", what, wire.FormatTime(cert.NotAfter))
	case left < warnWithin:
		r = result(Warn, "", "%s expires in %d day(s), on %s", what, int(left.Hours()/24), wire.FormatTime(cert.NotAfter))
	default:
		return nil
	}
	return &r
}

// certHost is the host a certificate names: its subject CN, or its first DNS
// SAN when the CN is empty (SPEC §13).
func certHost(cert *x509.Certificate) string {
	if cert.Subject.CommonName != "" || len(cert.DNSNames) == 0 {
		return cert.Subject.CommonName
	}
	return cert.DNSNames[0]
}

func subject(cert *x509.Certificate) string {
	return "CN=" + certHost(cert)
}
