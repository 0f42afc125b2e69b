package release

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func sampleManifest() Manifest {
	return Manifest{
		Type: Type, Version: "v1.2.0", Commit: strings.Repeat("ab", 20), CreatedAt: "2026-12-01T10:00:00.000Z",
		Artifacts: map[string]Artifact{
			"linux-amd64": {File: "cis490-v1.2.0-linux-amd64.tar.gz", SHA256: strings.Repeat("0", 64), Bytes: 10},
			"linux-arm64": {File: "cis490-v1.2.0-linux-arm64.tar.gz", SHA256: strings.Repeat("1", 64), Bytes: 11},
		},
		Seq: 7, ExpiresAt: "2027-03-01T10:00:00.000Z",
		Rollout: &Rollout{StartAt: "2026-12-02T00:00:00.000Z", Hours: 24},
	}
}

func mustKeys(tb testing.TB) ([]byte, []byte) {
	tb.Helper()
	priv, pub, err := GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return priv, pub
}

func TestSignVerifyRoundTrip(t *testing.T) {
	privPEM, pubPEM := mustKeys(t)
	priv, err := ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	b := sampleManifest().Encode()
	sig := Sign(priv, b)
	m, err := Verify(pub, b, sig)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "v1.2.0" || m.Seq != 7 {
		t.Errorf("got %+v", m)
	}

	_, otherPEM := mustKeys(t)
	other, _ := ParsePublicKey(otherPEM)
	flipped := bytes.Clone(b)
	flipped[len(flipped)/2] ^= 1
	unsigned := sampleManifest()
	unsigned.Seq, unsigned.Rollout = 0, nil
	ub := unsigned.Encode()
	tests := []struct {
		name string
		pub  []byte
		data []byte
		sig  []byte
		want error
	}{
		{"flipped byte in the manifest is refused", pubPEM, flipped, sig, ErrBadSignature},
		{"another key's signature is refused", otherPEM, b, sig, ErrBadSignature},
		{"garbage signature is refused", pubPEM, b, []byte("not base64!\n"), ErrBadSignature},
		{"signed manifest without seq is refused", pubPEM, ub, Sign(priv, ub), ErrBadManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := pub
			if bytes.Equal(tt.pub, otherPEM) {
				k = other
			}
			if _, err := Verify(k, tt.data, tt.sig); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	good := string(sampleManifest().Encode())
	tests := map[string]string{
		"unknown field":        strings.Replace(good, `"type"`, `"extra": 1, "type"`, 1),
		"wrong type":           strings.Replace(good, Type, "other", 1),
		"version with a slash": strings.Replace(good, `"version": "v1.2.0"`, `"version": "../x"`, 1),
		"file with a slash":    strings.Replace(good, `"file": "cis490-v1.2.0-linux-amd64.tar.gz"`, `"file": "../../etc/passwd"`, 1),
		"short sha256":         strings.Replace(good, strings.Repeat("0", 64), "00", 1),
		"trailing data":        good + "{}",
		"bad arch key":         strings.Replace(good, `"linux-amd64"`, `"windows-amd64"`, 1),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(in)); !errors.Is(err, ErrBadManifest) {
				t.Errorf("got %v, want ErrBadManifest", err)
			}
		})
	}
	if _, err := Parse([]byte(good)); err != nil {
		t.Errorf("good manifest: %v", err)
	}
}

// TestRolloutFractions checks over 1000 synthetic host ids that the share of
// eligible hosts follows the ramp from start_at to start_at + hours, and
// that the canary ring is eligible at start_at.
func TestRolloutFractions(t *testing.T) {
	m := sampleManifest()
	start, _ := time.Parse(time.RFC3339, m.Rollout.StartAt)
	const n = 1000
	for _, frac := range []float64{0, 0.1, 0.25, 0.5, 0.75, 1} {
		t.Run(fmt.Sprintf("at %.0f%% of the window", frac*100), func(t *testing.T) {
			now := start.Add(time.Duration(frac * float64(24*time.Hour)))
			eligible := 0
			for i := range n {
				if !now.Before(m.EligibleAt(fmt.Sprintf("lab%04d", i), "")) {
					eligible++
				}
			}
			got := float64(eligible) / n
			if got < frac-0.05 || got > frac+0.05 {
				t.Errorf("eligible fraction %.3f, want %.2f ± 0.05", got, frac)
			}
			if frac == 0 && eligible > 5 {
				t.Errorf("%d hosts eligible at start_at", eligible)
			}
			if frac == 1 && eligible != n {
				t.Errorf("%d of %d eligible at the end of the window", eligible, n)
			}
		})
	}
	t.Run("canary is eligible at start_at", func(t *testing.T) {
		for i := range n {
			if got := m.EligibleAt(fmt.Sprintf("lab%04d", i), RingCanary); !got.Equal(start) {
				t.Fatalf("canary lab%04d eligible at %v, want %v", i, got, start)
			}
		}
	})
	t.Run("before start_at nobody is eligible", func(t *testing.T) {
		before := start.Add(-time.Second)
		for i := range n {
			if !before.Before(m.EligibleAt(fmt.Sprintf("lab%04d", i), RingCanary)) {
				t.Fatal("eligible before start_at")
			}
		}
	})
}

func TestBucketIsTheSpecFormula(t *testing.T) {
	// printf 'lab1\nv1' | sha256sum starts with c381b0b2.
	got := Bucket("lab1", "v1")
	if want := float64(0xc381b0b2) / (1 << 32); got != want {
		t.Fatalf("bucket %v, want %v", got, want)
	}
	if Bucket("lab1", "v1") != got || Bucket("lab1", "v2") == got {
		t.Error("bucket is not a function of host and version")
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add(sampleManifest().Encode())
	f.Add([]byte(`{"type":"cis490-release"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		// Round trip: what parses re-encodes to a manifest that parses to
		// the same value, and never names a path outside its directory.
		m2, err := Parse(m.Encode())
		if err != nil {
			t.Fatalf("re-encoded manifest does not parse: %v", err)
		}
		if string(m2.Encode()) != string(m.Encode()) {
			t.Fatal("round trip changed the manifest")
		}
		for _, a := range m.Artifacts {
			if strings.ContainsAny(a.File, "/\\") || a.File == "." || a.File == ".." {
				t.Fatalf("file %q escapes", a.File)
			}
		}
		if strings.Contains(m.Version, "/") || m.Version == ".." {
			t.Fatalf("version %q escapes", m.Version)
		}
	})
}
