package enroll

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/config"
	"cis490/internal/pki"
	"cis490/internal/wire"
)

// Outcomes of a renewal: the status of `cert-renew --json`.
const (
	StatusRenewed = "renewed"
	StatusNotDue  = "not-due"
	StatusFailed  = "failed"
)

// StatusJoining is the state of a join whose answer has not arrived yet:
// the next join reuses its key.
const StatusJoining = "joining"

// ErrRefused reports a renewal the operator must act on: the host is
// revoked, its certificate expired, the receiver refused the CSR or has no
// CA. cert-renew exits 3 on it; other failures are transient (exit 1).
var ErrRefused = errors.New("renewal refused")

// RenewResult is `cert-renew --json`.
type RenewResult struct {
	Status     string  `json:"status"`
	NotAfter   *string `json:"not_after"`
	RenewAfter *string `json:"renew_after"`
	Error      *string `json:"error"`
}

// Renewer sends the CSR; transport.Client.RenewCert in production.
type Renewer func(ctx context.Context, csrPEM string) (wire.RenewReply, error)

// Renew renews the host's certificate with a fresh key once renew_after has
// passed (or when force is set). The new key is staged beside the old one
// before the request (a retry reuses it) and swapped in with the new
// certificate afterwards; a run first finishes a swap a crash interrupted.
// Errors match ErrConfig, ErrRefused, or are transient.
func Renew(ctx context.Context, cfg config.LabHost, force bool, at time.Time, send Renewer) (RenewResult, error) {
	res := RenewResult{Status: StatusFailed}
	files, err := FilesOf(cfg, true)
	if err != nil {
		return res, err
	}
	if err := finishSwap(files); err != nil {
		return res, err
	}
	if _, joined, _ := ReadState(files.Cert); !joined && !force {
		// A certificate from an operator's own CA (no join wrote the state
		// file) is renewed by that operator, not by the fleet CA.
		res.Status = StatusNotDue
		return res, nil
	}
	cur, err := readCert(files.Cert)
	if err != nil {
		return res, fmt.Errorf("%w: client_cert: %v (a host without a certificate joins with `cis490-shipper join`)", ErrRefused, err)
	}
	res.setTimes(cur.NotAfter, pki.RenewAfter(cur))
	if !at.Before(cur.NotAfter) {
		return res, recordFailure(files, res, fmt.Errorf("%w: the certificate expired on %s; the host needs a new join (cis490-receiver host add %s)",
			ErrRefused, wire.FormatTime(cur.NotAfter), cfg.HostID), "expired")
	}
	if !force && at.Before(pki.RenewAfter(cur)) {
		res.Status = StatusNotDue
		return res, nil
	}
	key, _, err := loadOrMakeKey(nextPath(files.Key), files.Owner)
	if err != nil {
		return res, err
	}
	csr, err := pki.NewCSR(key, cfg.HostID)
	if err != nil {
		return res, err
	}
	reply, err := send(ctx, string(csr))
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && refusal(we) {
			return res, recordFailure(files, res, fmt.Errorf("%w: %v", ErrRefused, err), we.Code)
		}
		return res, recordFailure(files, res, err, "")
	}
	cert, err := pki.ParseCert([]byte(reply.Cert))
	if err != nil {
		return res, recordFailure(files, res, fmt.Errorf("the receiver's certificate: %w", err), "")
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return res, recordFailure(files, res, errors.New("the receiver's certificate is not for the new key"), "")
	}
	if err := atomicio.WriteFileOwned(nextPath(files.Cert), []byte(reply.Cert), 0o644, files.Owner); err != nil {
		return res, err
	}
	if err := finishSwap(files); err != nil {
		return res, err
	}
	res.Status = StatusRenewed
	res.setTimes(cert.NotAfter, pki.RenewAfter(cert))
	return res, writeState(files, State{Status: StatusRenewed, At: fmtTime(at), NotAfter: *res.NotAfter, RenewAfter: *res.RenewAfter})
}

// refusal reports whether a receiver answer needs the operator: the CSR,
// the credentials or the receiver's PKI, rather than a passing outage.
func refusal(e *wire.Error) bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return true
	case http.StatusNotFound:
		return e.Code == wire.CodePKIOff
	}
	return false
}

func (r *RenewResult) setTimes(notAfter, renewAfter time.Time) {
	na, ra := wire.FormatTime(notAfter), wire.FormatTime(renewAfter)
	r.NotAfter, r.RenewAfter = &na, &ra
}

// recordFailure notes a failed renewal in the state file (the doctor shows
// a revoked or expired host) and returns err.
func recordFailure(files Files, res RenewResult, err error, code string) error {
	msg := err.Error()
	if code != "" {
		msg = code + ": " + msg
	}
	s := State{Status: StatusFailed, At: fmtTime(now()), Error: msg}
	if res.NotAfter != nil {
		s.NotAfter, s.RenewAfter = *res.NotAfter, *res.RenewAfter
	}
	if werr := writeState(files, s); werr != nil {
		return fmt.Errorf("%w (and the state file: %v)", err, werr)
	}
	return err
}

// finishSwap moves a staged key and certificate into place once both are
// there: the key first, then the certificate, each a rename. A crash
// between the two leaves only the certificate staged, which the next run
// moves. A staged key alone is a request in flight or lost: kept for reuse.
func finishSwap(files Files) error {
	keyNext, certNext := nextPath(files.Key), nextPath(files.Cert)
	haveKey, err := exists(keyNext)
	if err != nil {
		return err
	}
	haveCert, err := exists(certNext)
	if err != nil || !haveCert {
		return err
	}
	if haveKey {
		if err := os.Rename(keyNext, files.Key); err != nil {
			return fmt.Errorf("renew: %w", err)
		}
	}
	if err := os.Rename(certNext, files.Cert); err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	if err := atomicio.SyncDir(filepath.Dir(files.Key)); err != nil {
		return err
	}
	return atomicio.SyncDir(filepath.Dir(files.Cert))
}

func exists(p string) (bool, error) {
	_, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func readCert(p string) (*x509.Certificate, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return pki.ParseCert(b)
}
