// Command download fetches one release artifact with the code `cis490-shipper
// update` uses (update.FetchArtifact: into a file, size and sha256 checked)
// and prints the bytes and the seconds it took, for bench/update/run.sh to
// compare with curl from the same receiver.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"cis490/internal/config"
	"cis490/internal/release"
	"cis490/internal/transport"
	"cis490/shipper/update"
)

func main() {
	url := flag.String("url", "", "receiver URL")
	tokenFile := flag.String("token-file", "", "bearer token file")
	path := flag.String("file", "", "the artifact's file name")
	sum := flag.String("sha256", "", "the artifact's sha256")
	size := flag.String("bytes", "", "the artifact's size")
	out := flag.String("out", "", "file to write")
	flag.Parse()
	c, err := transport.New(config.ReceiverClient{URL: *url, TokenFile: *tokenFile, TimeoutS: 30}, "bench", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var a release.Artifact
	a.File, a.SHA256 = *path, *sum
	a.Bytes, _ = strconv.ParseInt(*size, 10, 64)
	os.Remove(*out)
	start := time.Now()
	if err := update.FetchArtifact(context.Background(), c, a, *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d %.4f\n", a.Bytes, time.Since(start).Seconds())
}
