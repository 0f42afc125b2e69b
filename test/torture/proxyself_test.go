package torture

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestFaultProxy checks the proxy does what the torture counts on: clean
// connections pass every byte both ways, a reset cuts the request at the
// planned byte, a dropped reply never reaches the client, a stall delivers
// everything late.
func TestFaultProxy(t *testing.T) {
	const reqLen = 100_000
	req := bytes.Repeat([]byte("r"), reqLen)
	tests := []struct {
		name      string
		plan      *fault
		wantUp    int  // request bytes the upstream must see
		wantReply bool // whether the client must read the reply
	}{
		{name: "clean connection passes both ways", wantUp: reqLen, wantReply: true},
		{name: "reset cuts the request at the planned byte", plan: &fault{kind: faultReset, after: 1234}, wantUp: 1234},
		{name: "dropped reply never reaches the client", plan: &fault{kind: faultDropReply, after: 10}, wantUp: reqLen},
		{name: "stall delivers everything late", plan: &fault{kind: faultStall, after: 500, pause: 50 * time.Millisecond}, wantUp: reqLen, wantReply: true},
		{name: "delay delivers everything", plan: &fault{kind: faultDelay, pause: time.Millisecond}, wantUp: reqLen, wantReply: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer up.Close()
			got := make(chan int, 1)
			go func() {
				c, err := up.Accept()
				if err != nil {
					got <- -1
					return
				}
				defer c.Close()
				n, _ := io.Copy(io.Discard, c) // until the proxy half-closes or resets
				if n == reqLen {
					_, _ = c.Write([]byte("reply"))
				}
				got <- int(n)
			}()
			p, err := newFaultProxy(1, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer p.close()
			p.setUpstream(up.Addr().String())
			p.force = tt.plan
			p.faulty.Store(tt.plan != nil)

			c, err := net.Dial("tcp", p.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = c.Write(req)
			_ = c.(*net.TCPConn).CloseWrite()
			reply, _ := io.ReadAll(c)
			if n := <-got; n != tt.wantUp {
				t.Errorf("upstream read %d request bytes, want %d", n, tt.wantUp)
			}
			if gotReply := string(reply) == "reply"; gotReply != tt.wantReply {
				t.Errorf("client read reply %q; want reply %v", reply, tt.wantReply)
			}
			if total, _ := p.injected(); (total > 0) != (tt.plan != nil) {
				t.Errorf("injected %d faults for plan %v", total, tt.plan)
			}
		})
	}
}
