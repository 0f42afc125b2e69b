package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"cis490/internal/s3"
	"cis490/internal/s3/s3test"
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestAgainstVersitygw(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	c := srv.Bucket("bucket1")
	ctx := context.Background()
	body := bytes.Repeat([]byte("episode "), 100000)
	for _, unsigned := range []bool{false, true} {
		cfg := srv.Config("bucket1")
		cfg.UnsignedPayload = unsigned
		cl, err := s3.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		key := "p/episodes/ep-1.tar.zst"
		if unsigned {
			key = "p/episodes/ep-2.tar.zst"
		}
		got, err := cl.Put(ctx, s3.PutInput{Key: key, Body: bytes.NewReader(body), Size: int64(len(body)),
			SHA256: sum(body), Meta: map[string]string{"cis490-host": "lab1"}})
		if err != nil {
			t.Fatalf("put (unsigned=%v): %v", unsigned, err)
		}
		if got != sum(body) {
			t.Errorf("put answered checksum %q, want %q", got, sum(body))
		}
	}
	o, found, err := c.Head(ctx, "p/episodes/ep-1.tar.zst")
	if err != nil || !found {
		t.Fatalf("head: %v %v", found, err)
	}
	if o.SHA256 != sum(body) || o.Size != int64(len(body)) || o.Meta["cis490-host"] != "lab1" {
		t.Errorf("head = %+v", o)
	}
	rc, _, err := c.Get(ctx, "p/episodes/ep-1.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(b, body) {
		t.Error("get returned other bytes")
	}
	var keys []string
	if err := c.List(ctx, "p/", func(o s3.Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != "p/episodes/ep-1.tar.zst,p/episodes/ep-2.tar.zst" {
		t.Errorf("list = %s", got)
	}
	if err := c.Delete(ctx, "p/episodes/ep-1.tar.zst"); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.Head(ctx, "p/episodes/ep-1.tar.zst"); found || err != nil {
		t.Errorf("head after delete: found=%v err=%v", found, err)
	}

	t.Run("wrong checksum is BadDigest", func(t *testing.T) {
		_, err := c.Put(ctx, s3.PutInput{Key: "x", Body: bytes.NewReader(body), Size: int64(len(body)), SHA256: sum([]byte("other"))})
		var se *s3.Error
		if !errors.As(err, &se) || se.Kind != s3.KindChecksum {
			t.Fatalf("err = %v, want kind checksum", err)
		}
	})
	t.Run("wrong secret is auth", func(t *testing.T) {
		cfg := srv.Config("bucket1")
		cfg.SecretAccessKey = "nope"
		cl, _ := s3.New(cfg)
		_, err := cl.Put(ctx, s3.PutInput{Key: "x", Body: bytes.NewReader(body), Size: int64(len(body)), SHA256: sum(body)})
		var se *s3.Error
		if !errors.As(err, &se) || se.Kind != s3.KindAuth {
			t.Fatalf("err = %v, want kind auth", err)
		}
	})
	t.Run("unknown bucket is no-bucket", func(t *testing.T) {
		cl, _ := s3.New(srv.Config("nosuch"))
		_, err := cl.Put(ctx, s3.PutInput{Key: "x", Body: bytes.NewReader(body), Size: int64(len(body)), SHA256: sum(body)})
		var se *s3.Error
		if !errors.As(err, &se) || se.Kind != s3.KindNoBucket {
			t.Fatalf("err = %v, want kind no-bucket", err)
		}
	})
}
