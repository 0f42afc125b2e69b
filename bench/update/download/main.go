// Command download fetches one release artifact the way `cis490-shipper
// update` does (transport.Client.Download into a file, hashed on the way)
// and prints the bytes and the seconds it took, for bench/update/run.sh to
// compare with curl from the same receiver.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"cis490/internal/config"
	"cis490/internal/transport"
)

func main() {
	url := flag.String("url", "", "receiver URL")
	tokenFile := flag.String("token-file", "", "bearer token file")
	path := flag.String("path", "", "URL path of the artifact")
	out := flag.String("out", "", "file to write")
	flag.Parse()
	c, err := transport.New(config.ReceiverClient{URL: *url, TokenFile: *tokenFile, TimeoutS: 30}, "bench", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	h := sha256.New()
	cw := &counter{w: io.MultiWriter(f, h)}
	start := time.Now()
	if err := c.Download(context.Background(), *path, 0, cw); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d %.4f %s\n", cw.n, time.Since(start).Seconds(), hex.EncodeToString(h.Sum(nil)))
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
