package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// FuzzRewriteNetHTTPError: any bytes written to a connection either pass
// through untouched or, when they are one of net/http's own error answers,
// become a whole HTTP answer with the same status and a JSON error body.
func FuzzRewriteNetHTTPError(f *testing.F) {
	f.Add([]byte("HTTP/1.1 431 Request Header Fields Too Large" + netHTTPErrorHeaders + "431 Request Header Fields Too Large"))
	f.Add([]byte("HTTP/1.1 400 Bad Request: malformed" + netHTTPErrorHeaders + "400 Bad Request: malformed"))
	f.Add([]byte("HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nok\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		out, ok := rewriteNetHTTPError(p)
		if !ok {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if err != nil {
			t.Fatalf("rewritten answer does not parse: %v\n%q", err, out)
		}
		b, _ := io.ReadAll(resp.Body)
		var body struct{ Error, Detail string }
		if json.Unmarshal(b, &body) != nil || body.Error == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("rewritten answer %q is not the JSON error shape", out)
		}
		if string(p[9:12]) != resp.Status[:3] {
			t.Fatalf("status %q became %q", p[9:12], resp.Status)
		}
	})
}
