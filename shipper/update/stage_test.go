package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"cis490/internal/release"
	"cis490/internal/wire"
)

// rangeClient serves one artifact from memory, honouring the offset as a
// Range request would, and records the offsets asked for.
type rangeClient struct {
	body    []byte
	offsets []int64
	cutAt   int64 // > 0: the transfer breaks after this many bytes of the file
}

func (c *rangeClient) Get(context.Context, string, int64) ([]byte, error) {
	return nil, errors.New("unused")
}
func (c *rangeClient) GetIfNoneMatch(context.Context, string, string, int64) ([]byte, bool, error) {
	return nil, false, errors.New("unused")
}
func (c *rangeClient) Ping(context.Context, string) (wire.PingReply, error) {
	return wire.PingReply{}, nil
}
func (c *rangeClient) Download(_ context.Context, _ string, offset int64, w io.Writer) error {
	c.offsets = append(c.offsets, offset)
	end := int64(len(c.body))
	if c.cutAt > offset {
		end = c.cutAt
	}
	if _, err := w.Write(c.body[offset:end]); err != nil {
		return err
	}
	if end < int64(len(c.body)) {
		c.cutAt = 0
		return io.ErrUnexpectedEOF
	}
	return nil
}

func TestFetchArtifactResumesAndChecks(t *testing.T) {
	body := bytes.Repeat([]byte("release bytes "), 100000)
	sum := sha256.Sum256(body)
	a := release.Artifact{File: "r.tar.gz", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(body))}
	path := filepath.Join(t.TempDir(), ".download-r.tar.gz")
	c := &rangeClient{body: body, cutAt: 300000}
	if err := FetchArtifact(context.Background(), c, a, path); !errors.Is(err, errTransient) {
		t.Fatalf("cut transfer: %v, want transient", err)
	}
	if err := FetchArtifact(context.Background(), c, a, path); err != nil {
		t.Fatal(err)
	}
	if got := c.offsets; len(got) != 2 || got[0] != 0 || got[1] != 300000 {
		t.Errorf("offsets %v, want [0 300000]", got)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, body) {
		t.Error("the resumed file is not the artifact")
	}
	t.Run("a wrong sha256 removes the file", func(t *testing.T) {
		bad := a
		bad.SHA256 = hex.EncodeToString(make([]byte, 32))
		p := filepath.Join(t.TempDir(), "x")
		if err := FetchArtifact(context.Background(), &rangeClient{body: body}, bad, p); err == nil || errors.Is(err, errTransient) {
			t.Fatalf("got %v, want a sha256 refusal", err)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Error("the file was kept")
		}
	})
	t.Run("more bytes than the manifest says", func(t *testing.T) {
		short := a
		short.Bytes = 10
		p := filepath.Join(t.TempDir(), "x")
		if err := FetchArtifact(context.Background(), &rangeClient{body: body}, short, p); err == nil || errors.Is(err, errTransient) {
			t.Fatalf("got %v, want a size refusal", err)
		}
	})
}

// The overlapped hash gives sha256's digest whatever the write sizes,
// including writes larger than its buffers and empty ones.
func TestAsyncHashMatchesSHA256(t *testing.T) {
	data := make([]byte, 3*hashBufSize+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	want := sha256.Sum256(data)
	for _, tc := range []struct {
		name  string
		sizes []int
	}{
		{"one write", []int{len(data)}},
		{"small writes", []int{1, 0, 4096, 32 << 10}},
		{"larger than a buffer", []int{hashBufSize + 1, 2 * hashBufSize}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newAsyncHash()
			rest := data
			for i := 0; len(rest) > 0; i++ {
				n := min(tc.sizes[i%len(tc.sizes)], len(rest))
				if k, err := h.Write(rest[:n]); k != n || err != nil {
					t.Fatalf("Write = %d, %v", k, err)
				}
				rest = rest[n:]
			}
			if got := h.Sum(); !bytes.Equal(got, want[:]) {
				t.Errorf("digest %x, want %x", got, want)
			}
		})
	}
}
