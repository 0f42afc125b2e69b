package buildinfo

import "testing"

func TestString(t *testing.T) {
	Version, Commit = "1.2.3", "abc"
	defer func() { Version, Commit = "dev", "unknown" }()
	if got := String("cis490-receiver"); got != "cis490-receiver 1.2.3 (commit abc)" {
		t.Errorf("String = %q", got)
	}
}
