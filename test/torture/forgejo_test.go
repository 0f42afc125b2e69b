package torture

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
)

// fakeForgejo serves the commit list of one branch the way Forgejo pages it
// (GET /api/v1/repos/{owner}/{repo}/commits?sha=main&limit=50&page=N), and
// answers 500 to everything while down.
type fakeForgejo struct {
	srv      *httptest.Server
	commits  []string // newest first
	down     atomic.Bool
	requests atomic.Int64
	refused  atomic.Int64
}

const (
	forgejoOwner = "lab"
	forgejoRepo  = "cis490"
)

// newFakeForgejo lists n made-up commits, newest first.
func newFakeForgejo(n int) *fakeForgejo {
	f := &fakeForgejo{}
	for i := range n {
		sum := sha1.Sum([]byte(fmt.Sprintf("commit %d", i)))
		f.commits = append(f.commits, hex.EncodeToString(sum[:]))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/repos/"+forgejoOwner+"/"+forgejoRepo+"/commits", f.list)
	f.srv = httptest.NewServer(mux)
	return f
}

func (f *fakeForgejo) list(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.down.Load() {
		f.refused.Add(1)
		http.Error(w, `{"message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	if r.URL.Query().Get("sha") != "main" {
		http.Error(w, `{"message":"branch not found"}`, http.StatusNotFound)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	limit = min(max(limit, 1), 50)
	page = max(page, 1)
	type commit struct {
		SHA string `json:"sha"`
	}
	out := []commit{}
	for i := (page - 1) * limit; i < page*limit && i < len(f.commits); i++ {
		out = append(out, commit{SHA: f.commits[i]})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
