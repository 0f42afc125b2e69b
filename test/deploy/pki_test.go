package deploy

import (
	"crypto/x509"
	"path/filepath"
	"testing"

	"cis490/internal/testutil"
)

// pki is a throwaway fleet CA in dir with certificates issued by it.
type pki struct {
	dir    string
	ca     *testutil.CA
	CAFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), ca: testutil.NewCA(t, testutil.Cert{CN: "cis490-test-ca"})}
	p.CAFile = filepath.Join(p.dir, "ca.crt")
	p.ca.Write(t, p.CAFile, "")
	return p
}

// issue writes name.crt and name.key: a server certificate for dnsNames, or
// a client certificate with subject CN cn when dnsNames is empty.
func (p *pki) issue(t *testing.T, name, cn string, dnsNames ...string) (certFile, keyFile string) {
	t.Helper()
	usage := x509.ExtKeyUsageClientAuth
	if len(dnsNames) > 0 {
		usage = x509.ExtKeyUsageServerAuth
	}
	certFile = filepath.Join(p.dir, name+".crt")
	keyFile = filepath.Join(p.dir, name+".key")
	p.ca.Issue(t, testutil.Cert{CN: cn, DNS: dnsNames, Usage: []x509.ExtKeyUsage{usage}}).Write(t, certFile, keyFile)
	return certFile, keyFile
}
