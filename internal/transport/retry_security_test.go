package transport

import (
	"net/http"
	"testing"
	"time"
)

// TestSecurityRetryAfterFarFuture: whatever date a receiver (or a proxy in
// front of it) sends in Retry-After, the wait is never negative. A date
// centuries ahead used to overflow to a negative number of seconds
// (testdata/fuzz/FuzzDecodeError holds the input the fuzzer found).
func TestSecurityRetryAfterFarFuture(t *testing.T) {
	now := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		in   string
		min  int
	}{
		{"year 7000", "Wed, 01 Oct 7000 00:00:00 GMT", 1 << 30},
		{"year 9999", "Fri, 31 Dec 9999 23:59:59 GMT", 1 << 30},
		{"half a second ahead", now.Add(500 * time.Millisecond).Format(http.TimeFormat), 0},
		{"huge seconds", "99999999999999999999", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.in, now); got < tc.min {
				t.Errorf("parseRetryAfter(%q) = %d, want at least %d", tc.in, got, tc.min)
			}
		})
	}
}
