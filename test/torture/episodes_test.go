package torture

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// episodeKind is what the receiver must decide about an episode.
type episodeKind int

const (
	kindValid     episodeKind = iota // stamped with a commit inside the gate's window
	kindStale                        // stamped with a commit outside it: 412
	kindUnstamped                    // no code_version.commit: 400 missing-commit
)

func (k episodeKind) String() string {
	return [...]string{"valid", "stale", "unstamped"}[k]
}

// episodeSpec is one planned episode; everything in it follows from the
// run's seed, the host and the episode's number.
type episodeSpec struct {
	host   int
	hostID string
	id     string
	kind   episodeKind
	commit string
	files  []fileSpec
	size   int64 // bytes of regular-file content
}

// fileSpec is one entry of an episode's tree, relative to the episode root.
type fileSpec struct {
	rel    string
	size   int64  // regular files
	link   string // symlinks: the target
	seed   [32]byte
	sha256 string // regular files: digest of the content, filled by write
}

// planEpisode draws episode e of host h. Sizes are log-uniform between
// minSize and maxSize, so most episodes are small and a few are large, as in
// a lab.
func planEpisode(seed uint64, h, e int, minSize, maxSize int64, commits []string, window int) episodeSpec {
	rng := rand.New(rand.NewPCG(seed, uint64(h)<<32|uint64(e)))
	sp := episodeSpec{host: h, hostID: hostID(h), id: fmt.Sprintf("%s-ep%03d", hostID(h), e)}
	switch r := rng.IntN(100); {
	case r < 12:
		sp.kind = kindStale
		sp.commit = commits[window+rng.IntN(len(commits)-window)]
	case r < 24:
		sp.kind = kindUnstamped
	default:
		sp.kind = kindValid
		sp.commit = commits[rng.IntN(window)]
	}
	lo, hi := math.Log(float64(minSize)), math.Log(float64(maxSize))
	sp.size = int64(math.Exp(lo + rng.Float64()*(hi-lo)))
	parts := 1 + rng.IntN(3)
	left := sp.size
	for i := range parts {
		n := left / int64(parts-i)
		if i < parts-1 {
			n = left * int64(30+rng.IntN(40)) / 100
		}
		left -= n
		f := fileSpec{rel: fmt.Sprintf("data/part-%d.bin", i), size: n}
		binary.LittleEndian.PutUint64(f.seed[:], seed)
		binary.LittleEndian.PutUint64(f.seed[8:], uint64(h))
		binary.LittleEndian.PutUint64(f.seed[16:], uint64(e))
		binary.LittleEndian.PutUint64(f.seed[24:], uint64(i))
		sp.files = append(sp.files, f)
	}
	notes := fileSpec{rel: "notes.txt", size: int64(1 + rng.IntN(512))}
	notes.seed = sp.files[0].seed
	notes.seed[31] ^= 0xff
	sp.files = append(sp.files, notes)
	sp.size += notes.size
	if rng.IntN(2) == 0 {
		sp.files = append(sp.files, fileSpec{rel: "latest", link: "data/part-0.bin"})
	}
	return sp
}

func hostID(h int) string { return fmt.Sprintf("lab%02d", h) }

// content is a file's bytes: 4 KiB blocks, half random and half one
// repeated byte, so zstd has work to do but the tarball is not tiny.
type content struct {
	rng   *rand.ChaCha8
	left  int64
	block []byte
	off   int
}

func newContent(seed [32]byte, size int64) *content {
	return &content{rng: rand.NewChaCha8(seed), left: size}
}

func (c *content) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	if c.off == len(c.block) {
		if c.block == nil {
			c.block = make([]byte, 4096)
		}
		_, _ = c.rng.Read(c.block)
		if c.block[0]&1 == 0 {
			fill := c.block[1]
			for i := range c.block {
				c.block[i] = fill
			}
		}
		c.off = 0
	}
	n := copy(p, c.block[c.off:])
	n = int(min(int64(n), c.left))
	c.off += n
	c.left -= int64(n)
	return n, nil
}

// write creates the episode under episodes/ the way a producer does: the
// tree is built in a dot-named staging directory (which the shipper
// ignores), meta.json last, then renamed into place. It fills in the
// files' digests.
func (sp *episodeSpec) write(episodesDir string) error {
	stage := filepath.Join(episodesDir, ".stage-"+sp.id)
	if err := os.MkdirAll(filepath.Join(stage, "data"), 0o755); err != nil {
		return err
	}
	for i := range sp.files {
		f := &sp.files[i]
		p := filepath.Join(stage, f.rel)
		if f.link != "" {
			if err := os.Symlink(f.link, p); err != nil {
				return err
			}
			continue
		}
		out, err := os.Create(p)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(out, h), newContent(f.seed, f.size))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		f.sha256 = hex.EncodeToString(h.Sum(nil))
	}
	meta := map[string]any{"host_id": sp.hostID, "episode": sp.id, "schema_version": "3"}
	if sp.commit != "" {
		meta["code_version"] = map[string]string{"commit": sp.commit}
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stage, "meta.json"), b, 0o644); err != nil {
		return err
	}
	return os.Rename(stage, filepath.Join(episodesDir, sp.id))
}

// expected lists what the tarball must hold: path under the episode root →
// "sha256:<hex>" for files, "link:<target>" for symlinks. meta.json is
// checked for the commit separately.
func (sp *episodeSpec) expected() map[string]string {
	m := map[string]string{}
	for _, f := range sp.files {
		if f.link != "" {
			m[f.rel] = "link:" + f.link
		} else {
			m[f.rel] = "sha256:" + f.sha256
		}
	}
	return m
}

// verifyTarball reads a stored tarball and returns its sha256 and a
// description of the first way its content differs from the episode as it
// was written ("" when identical).
func verifyTarball(path string, sp *episodeSpec) (sha string, mismatch string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	whole := sha256.New()
	tee := io.TeeReader(f, whole)
	zr, err := zstd.NewReader(tee, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return "", "", err
	}
	defer zr.Close()
	want := sp.expected()
	seen := map[string]bool{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Sprintf("tar: %v", err), nil
		}
		rel, ok := strings.CutPrefix(hdr.Name, sp.id+"/")
		if !ok {
			return "", fmt.Sprintf("entry %q outside %s/", hdr.Name, sp.id), nil
		}
		rel = strings.TrimSuffix(rel, "/")
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeSymlink:
			if want[rel] != "link:"+hdr.Linkname {
				return "", fmt.Sprintf("symlink %s -> %s unexpected", rel, hdr.Linkname), nil
			}
		case tar.TypeReg:
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				return "", fmt.Sprintf("read %s: %v", rel, err), nil
			}
			got := "sha256:" + hex.EncodeToString(h.Sum(nil))
			if rel == "meta.json" {
				seen[rel] = true
				continue
			}
			if want[rel] != got {
				return "", fmt.Sprintf("file %s content differs", rel), nil
			}
		default:
			return "", fmt.Sprintf("entry %s of type %c", rel, hdr.Typeflag), nil
		}
		seen[rel] = true
	}
	// Drain the frame so the digest covers the whole file.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return "", fmt.Sprintf("zstd: %v", err), nil
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", "", err
	}
	for rel := range want {
		if !seen[rel] {
			return "", fmt.Sprintf("file %s missing", rel), nil
		}
	}
	if !seen["meta.json"] {
		return "", "meta.json missing", nil
	}
	return hex.EncodeToString(whole.Sum(nil)), "", nil
}
