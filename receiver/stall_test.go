package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"cis490/internal/config"
	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
	"cis490/receiver/store"
)

func stallConfig(t *testing.T) config.Receiver {
	cfg := config.DefaultReceiver()
	cfg.Server.DataDir, cfg.Server.Listen, cfg.Server.MinFreeBytes = t.TempDir(), "127.0.0.1:0", 0
	cfg.Server.BodyIdleTimeoutS = 1
	cfg.VersionGate.Enabled = false
	return cfg
}

func TestStalledBodyIsAbortedAndLeavesNothing(t *testing.T) {
	cfg := stallConfig(t)
	addr := startInProcess(t, cfg)
	// A raw connection: headers and 1000 of the promised bytes, then nothing.
	// The receiver must give up on its own and close the connection.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\n%s: lab1\r\n%s: %s\r\nContent-Length: %d\r\n\r\n",
		wire.EpisodeURLPath("stalled"), wire.HeaderHost, wire.HeaderSHA256, strings.Repeat("0", 64), 1<<20)
	conn.Write(bytes.Repeat([]byte("s"), 1000))
	if n, err := io.Copy(io.Discard, conn); n != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("the receiver answered a stalled upload (%d bytes, %v) instead of closing", n, err)
	}
	dir := cfg.Server.DataDir
	if left, err := store.TmpLeftovers(dir); err != nil || len(left) != 0 {
		t.Errorf("tmp/ holds %v (%v)", left, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "store")); len(ents) != 0 {
		t.Errorf("store/ holds %d files", len(ents))
	}
	var rows []index.Attempt
	jsonl.ScanFile(filepath.Join(dir, datadir.AttemptsFile), func(l []byte) error {
		var a index.Attempt
		json.Unmarshal(l, &a)
		rows = append(rows, a)
		return nil
	})
	if len(rows) != 1 || rows[0].Status != 0 || rows[0].Error != "aborted" || rows[0].Bytes != 1000 || rows[0].ID != "stalled" {
		t.Errorf("attempts = %+v, want one aborted row with 1000 bytes", rows)
	}
}

func TestSlowClientHoldsNoOtherClientBack(t *testing.T) {
	cfg := stallConfig(t)
	addr := startInProcess(t, cfg)
	// Two slowloris connections: one stuck in its headers, one in its body.
	c1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	io.WriteString(c1, "PUT /v1/episodes/slow.tar.zst HTTP/1.1\r\nHost: x\r\nX-Cis490-Ho")
	pw, got100, result := uploadStream(t, "http://"+addr+wire.EpisodeURLPath("slow2"), 1<<20, sha([]byte("x")))
	<-got100
	defer func() { pw.Close(); <-result }()

	body := []byte("quick episode")
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+wire.EpisodeURLPath("quick"), bytes.NewReader(body))
	req.Header.Set(wire.HeaderHost, "lab1")
	req.Header.Set(wire.HeaderSHA256, sha(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("upload beside slow clients = %d", resp.StatusCode)
	}
}
