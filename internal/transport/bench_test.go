package transport

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cis490/internal/config"
)

// BenchmarkUpload measures a 64 MiB upload over loopback through the
// progress-tracking body and the stall watchdog.
func BenchmarkUpload(b *testing.B) {
	const size = 64 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(201)
		io.WriteString(w, `{"status":"stored"}`)
	}))
	defer srv.Close()
	path := filepath.Join(b.TempDir(), "ep.tar.zst")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	c, err := New(config.ReceiverClient{URL: srv.URL, TimeoutS: 30}, "lab1", nil)
	if err != nil {
		b.Fatal(err)
	}
	var sent int64
	prog := progressFuncs{moved: func(n int64) { sent = n }}
	sha := strings.Repeat("0", 64)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Upload(context.Background(), Episode{ID: "ep-1", Path: path, SHA256: sha, Size: size, Progress: prog}); err != nil {
			b.Fatal(err)
		}
	}
	if sent != size {
		b.Fatalf("sent %d", sent)
	}
}
