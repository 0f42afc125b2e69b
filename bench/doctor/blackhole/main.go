// Command blackhole listens on a TCP address, accepts connections and never
// answers: the worst receiver the doctor can meet, for timing its bound.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "blackhole:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "blackhole:", err)
			os.Exit(1)
		}
		go io.Copy(io.Discard, c) // read the request, never answer
	}
}
