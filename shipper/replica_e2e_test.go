package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"cis490/internal/index"
	"cis490/internal/s3"
	"cis490/internal/s3/s3test"
	"cis490/receiver/datadir"
	"cis490/receiver/replicalog"
)

// TestReplicaEndToEnd ships 200 episodes through the shipper to a real
// receiver that replicates to a real S3 server (versitygw), then checks the
// bucket object by object, the day index objects against index.jsonl, and
// `replica verify` before and after an object is deleted and another
// corrupted behind the store's back.
func TestReplicaEndToEnd(t *testing.T) {
	const n = 200
	srv := s3test.Start(t, s3test.Options{})
	const bucket = "cis490-e2e"
	client := srv.Bucket(bucket)
	repo, commits := gitRepo(t, 3)
	head := commits[0]
	recv := startRealReceiverWith(t, "s3cret-token", repo, "http", fmt.Sprintf(
		"[replica]\nendpoint = %q\nbucket = %q\nprefix = \"lab/\"\naccess_key_id = %q\nsecret_access_key = %q\n",
		srv.Endpoint(), bucket, s3test.AccessKey, s3test.SecretKey))

	dataDir := t.TempDir()
	eps := filepath.Join(dataDir, "episodes")
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte("s3cret-token\n"), 0o600)
	cfg := mustConfig(t, dataDir, recv.url, "settle_s = 0")
	appendConfig(t, cfg, "[receiver]", fmt.Sprintf("token_file = %q", tokFile))
	for i := 0; i < n; i++ {
		mustEpisodeMeta(t, eps, fmt.Sprintf("ep-%03d", i), `{"code_version":{"commit":"`+head+`"},"schema_version":"3"}`)
	}
	code, stdout, stderr := runCLI(t, "--once", "--json", "--config", cfg)
	if _, m := mustOneJSON(t, stdout); code != 0 || m["shipped"] != float64(n) {
		t.Fatalf("exit %d, %v\n%s", code, m, stderr)
	}

	// The receiver replicates in the background: wait for its record.
	deadline := time.Now().Add(3 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		rows := 0
		replicalog.ReadFile(recv.dataDir, func(replicalog.Row) { rows++ })
		if rows == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d episodes replicated", rows, n)
		}
		<-tick.C
	}
	recv.stop() // flushes the day objects

	ctx := context.Background()
	idx, err := os.ReadFile(datadir.New(recv.dataDir).Index())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	index.ReadFile(datadir.New(recv.dataDir).Index(), func(r index.Row) {
		ids = append(ids, r.ID)
		o, found, err := client.Head(ctx, "lab/episodes/"+r.ID+".tar.zst")
		if err != nil || !found {
			t.Errorf("%s: found=%v err=%v", r.ID, found, err)
			return
		}
		if o.Meta["cis490-host"] != "lab1" || o.Meta["cis490-commit"] != head || o.Meta["cis490-received-at"] != r.ReceivedAt {
			t.Errorf("%s: metadata %v", r.ID, o.Meta)
		}
		rc, _, err := client.Get(ctx, "lab/episodes/"+r.ID+".tar.zst")
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, rc)
		rc.Close()
		if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 {
			t.Errorf("%s: object hashes to %s, row says %s", r.ID, got, r.SHA256)
		}
	})
	if len(ids) != n {
		t.Fatalf("index has %d rows", len(ids))
	}
	var days []string
	client.List(ctx, "lab/index/", func(o s3.Object) error { days = append(days, o.Key); return nil })
	sort.Strings(days)
	var all []byte
	for _, k := range days {
		rc, _, err := client.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		all = append(all, b...)
	}
	if !bytes.Equal(all, idx) {
		t.Errorf("the day objects %v do not hold exactly the index rows:\n%s", days, all)
	}

	verify := func() (int, map[string]any) {
		cmd := exec.Command(recv.bin, "replica", "verify", "--json", "--config", recv.config, "--data-dir", recv.dataDir)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("verify output %q: %v\n%s", out.String(), err, errb.String())
		}
		return code, m
	}
	if code, m := verify(); code != 0 || m["ok"] != true || m["checked"] != float64(n) {
		t.Fatalf("verify of the fresh bucket: exit %d %v", code, m)
	}
	os.Remove(srv.ObjectPath(bucket, "lab/episodes/"+ids[7]+".tar.zst"))
	b, _ := os.ReadFile(srv.ObjectPath(bucket, "lab/episodes/"+ids[42]+".tar.zst"))
	b[len(b)/2] ^= 0xff
	os.WriteFile(srv.ObjectPath(bucket, "lab/episodes/"+ids[42]+".tar.zst"), b, 0o644)
	code, m := verify()
	var found []string
	for _, p := range m["problems"].([]any) {
		p := p.(map[string]any)
		found = append(found, fmt.Sprint(p["kind"], ":", p["id"]))
	}
	want := "missing:" + ids[7] + " wrong-checksum:" + ids[42]
	if code != 1 || strings.Join(found, " ") != want {
		t.Errorf("verify after the damage: exit %d, found %v, want %s", code, found, want)
	}
}
