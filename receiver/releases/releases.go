// Package releases keeps the published releases in the receiver's data
// directory (SPEC §15): data_dir/releases/<seq>/ holds a verified manifest,
// its signature and the artifacts; the symlink "current" names the release
// served as current and "previous" the one before it, which stays
// downloadable so a host that fetched the old manifest can finish.
package releases

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/release"
	"cis490/receiver/datadir"
)

// Names of the links inside the releases directory.
const (
	currentLink  = "current"
	previousLink = "previous"
)

// ErrNoRelease reports that nothing was published yet.
var ErrNoRelease = errors.New("no release published")

// ErrBadArtifact reports an artifact missing, or whose size or sha256 is
// not the manifest's.
var ErrBadArtifact = errors.New("bad release artifact")

// ErrExpired reports a manifest whose expires_at has passed.
var ErrExpired = errors.New("release manifest expired")

// ErrNotNewer reports a publish whose seq is not above the current one.
var ErrNotNewer = errors.New("seq not above the current release's")

// Store is the releases directory of one data directory.
type Store struct{ dir string }

// Open returns the store of dataDir; nothing is created until a publish.
func Open(dataDir string) *Store { return &Store{dir: datadir.New(dataDir).Releases()} }

// Current is the published current release as served.
type Current struct {
	Manifest []byte // release.json, the exact signed bytes
	Sig      []byte // release.json.sig
	Parsed   release.Manifest
	Dir      string
}

// Current reads the current release; ErrNoRelease when there is none.
func (s *Store) Current() (Current, error) {
	return s.read(currentLink)
}

func (s *Store) read(link string) (Current, error) {
	target, err := os.Readlink(filepath.Join(s.dir, link))
	if errors.Is(err, os.ErrNotExist) {
		return Current{}, ErrNoRelease
	}
	if err != nil {
		return Current{}, err
	}
	dir := filepath.Join(s.dir, filepath.Base(target))
	m, err := readLimited(filepath.Join(dir, release.ManifestFile), release.MaxManifestBytes)
	if err != nil {
		return Current{}, err
	}
	sig, err := readLimited(filepath.Join(dir, release.SignatureFile), 4096)
	if err != nil {
		return Current{}, err
	}
	p, err := release.Parse(m)
	if err != nil {
		return Current{}, fmt.Errorf("%s: %w", dir, err)
	}
	return Current{Manifest: m, Sig: sig, Parsed: p, Dir: dir}, nil
}

// OpenFile opens an artifact of the current release, or of the previous one
// when the current does not list it. The name must be a plain file name.
func (s *Store) OpenFile(name string) (*os.File, error) {
	if !release.ValidFileName(name) {
		return nil, os.ErrNotExist
	}
	for _, link := range []string{currentLink, previousLink} {
		c, err := s.read(link)
		if errors.Is(err, ErrNoRelease) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, a := range c.Parsed.Artifacts {
			if a.File == name {
				return os.Open(filepath.Join(c.Dir, name))
			}
		}
	}
	return nil, os.ErrNotExist
}

// Publish verifies the signed release in src (release.json, its .sig and
// the artifacts it lists) with pub, copies it into the store and makes it
// current atomically; the release it replaces becomes "previous" and older
// ones are removed. A seq not above the current one is ErrNotNewer. When
// running as root, what it writes is given to the owner of the data
// directory.
func (s *Store) Publish(src string, pub ed25519.PublicKey, now time.Time) (release.Manifest, error) {
	mb, err := readLimited(filepath.Join(src, release.ManifestFile), release.MaxManifestBytes)
	if err != nil {
		return release.Manifest{}, err
	}
	sig, err := readLimited(filepath.Join(src, release.SignatureFile), 4096)
	if err != nil {
		return release.Manifest{}, err
	}
	m, err := release.Verify(pub, mb, sig)
	if err != nil {
		return m, err
	}
	if m.Expired(now) {
		return m, fmt.Errorf("%w: expires_at %s", ErrExpired, m.ExpiresAt)
	}
	cur, err := s.Current()
	switch {
	case errors.Is(err, ErrNoRelease):
	case err != nil:
		return m, fmt.Errorf("current release: %w", err)
	case m.Seq <= cur.Parsed.Seq:
		return m, fmt.Errorf("%w: seq %d, current %d (%s)", ErrNotNewer, m.Seq, cur.Parsed.Seq, cur.Parsed.Version)
	}
	for arch, a := range m.Artifacts {
		if err := checkArtifact(filepath.Join(src, a.File), a); err != nil {
			return m, fmt.Errorf("%w %s: %v", ErrBadArtifact, arch, err)
		}
	}

	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return m, err
	}
	// One publish at a time: the seq check above is repeated under the lock.
	unlock, err := atomicio.Lock(s.dir, 0)
	if err != nil {
		return m, err
	}
	defer unlock()
	if cur, err := s.Current(); err == nil && m.Seq <= cur.Parsed.Seq {
		return m, fmt.Errorf("%w: seq %d, current %d (%s)", ErrNotNewer, m.Seq, cur.Parsed.Seq, cur.Parsed.Version)
	}
	uid, gid := owner(filepath.Dir(s.dir))
	chown(s.dir, uid, gid)
	name := strconv.FormatInt(m.Seq, 10)
	final := filepath.Join(s.dir, name)
	tmp := filepath.Join(s.dir, ".tmp-"+name)
	if err := os.RemoveAll(tmp); err != nil {
		return m, err
	}
	if err := os.RemoveAll(final); err != nil { // a leftover of a publish that crashed before switching
		return m, err
	}
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return m, err
	}
	chown(tmp, uid, gid)
	files := map[string][]byte{release.ManifestFile: mb, release.SignatureFile: sig}
	for n, b := range files {
		if err := atomicio.WriteFile(filepath.Join(tmp, n), b, 0o640); err != nil {
			return m, err
		}
		chown(filepath.Join(tmp, n), uid, gid)
	}
	for arch, a := range m.Artifacts {
		dst := filepath.Join(tmp, a.File)
		if err := copyVerified(filepath.Join(src, a.File), dst, a); err != nil {
			return m, fmt.Errorf("artifact %s: %w", arch, err)
		}
		chown(dst, uid, gid)
	}
	if err := atomicio.SyncDir(tmp); err != nil {
		return m, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return m, err
	}
	prev := ""
	if t, err := os.Readlink(filepath.Join(s.dir, currentLink)); err == nil {
		prev = filepath.Base(t)
	}
	if prev != "" {
		if err := s.link(previousLink, prev, uid, gid); err != nil {
			return m, err
		}
	}
	if err := s.link(currentLink, name, uid, gid); err != nil {
		return m, err
	}
	s.prune(name, prev)
	return m, nil
}

// link points name at target with a rename over it: readers see the old
// link or the new one.
func (s *Store) link(name, target string, uid, gid int) error {
	tmp := filepath.Join(s.dir, "."+name+".tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if uid >= 0 {
		_ = os.Lchown(tmp, uid, gid)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return err
	}
	return atomicio.SyncDir(s.dir)
}

// prune removes release directories other than keep and leftovers of
// interrupted publishes.
func (s *Store) prune(keep ...string) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if n == currentLink || n == previousLink || !e.IsDir() {
			continue
		}
		kept := false
		for _, k := range keep {
			kept = kept || (k != "" && n == k)
		}
		if !kept && (strings.HasPrefix(n, ".tmp-") || isSeq(n)) {
			_ = os.RemoveAll(filepath.Join(s.dir, n))
		}
	}
}

func isSeq(n string) bool {
	_, err := strconv.ParseInt(n, 10, 64)
	return err == nil
}

func checkArtifact(path string, a release.Artifact) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return verifyStream(f, io.Discard, a)
}

func copyVerified(src, dst string, a release.Artifact) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if err := verifyStream(in, out, a); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// verifyStream copies r to w and checks the size and sha256 of a.
func verifyStream(r io.Reader, w io.Writer, a release.Artifact) error {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, a.Bytes+1))
	if err != nil {
		return err
	}
	if n != a.Bytes {
		return fmt.Errorf("%s: %d bytes, the manifest says %d", a.File, n, a.Bytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(a.SHA256) {
		return fmt.Errorf("%s: sha256 %s, the manifest says %s", a.File, got, a.SHA256)
	}
	return nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// owner returns the uid and gid of dir when this process runs as root, so
// files it writes belong to the receiver's user; -1 otherwise.
func owner(dir string) (int, int) {
	if os.Geteuid() != 0 {
		return -1, -1
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return -1, -1
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, -1
	}
	return int(st.Uid), int(st.Gid)
}

func chown(path string, uid, gid int) {
	if uid >= 0 {
		_ = os.Chown(path, uid, gid)
	}
}
