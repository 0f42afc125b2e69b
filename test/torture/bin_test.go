package torture

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
	// binTemp is removed by TestMain after the tests ran.
	binTemp string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binTemp != "" {
		os.RemoveAll(binTemp)
	}
	os.Exit(code)
}

// binaries builds cis490-receiver and cis490-shipper once per test binary,
// without -race even when the tests run under it: the race detector would
// slow the children several times over and the torture measures them, not
// the harness. $CIS490_BIN_DIR, when set, names prebuilt binaries instead.
func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if d := os.Getenv("CIS490_BIN_DIR"); d != "" {
			binDir = d
			return
		}
		binTemp, binErr = os.MkdirTemp("", "cis490-torture-bin-")
		if binErr != nil {
			return
		}
		for _, name := range []string{"receiver", "shipper"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binTemp, "cis490-"+name), "cis490/"+name)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %w\n%s", name, err, out)
				return
			}
		}
		binDir = binTemp
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}
