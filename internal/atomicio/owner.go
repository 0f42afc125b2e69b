package atomicio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ChownLike gives path the owner and group of ref when the process runs as
// root, so files an operator writes with sudo belong to the service that
// reads them. It does nothing for other users, or when ref is "" or absent.
func ChownLike(path, ref string) error {
	if ref == "" || os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(ref)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("owner of %s: %w", ref, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := os.Lchown(path, int(sys.Uid), int(sys.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// WriteFileOwned is WriteFile with the new file chowned like ownerRef (see
// ChownLike) before it is moved into place.
func WriteFileOwned(path string, data []byte, perm os.FileMode, ownerRef string) error {
	return write(path, data, perm, ownerRef, false)
}

// WriteNew durably creates path with data, chowned like ownerRef, and never
// replaces an existing file (an error matching ErrExist).
func WriteNew(path string, data []byte, perm os.FileMode, ownerRef string) error {
	return write(path, data, perm, ownerRef, true)
}

func write(path string, data []byte, perm os.FileMode, ownerRef string, noReplace bool) error {
	p, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fail := func(err error) error {
		p.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Mode and owner are set before the first byte, so a secret is never
	// readable by anyone else, not even in the temp file.
	if err := p.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := ChownLike(p.Name(), ownerRef); err != nil {
		return fail(err)
	}
	if _, err := p.Write(data); err != nil {
		return fail(err)
	}
	if noReplace {
		err = p.CommitNew()
	} else {
		err = p.Commit()
	}
	if err != nil && !errors.Is(err, ErrExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return err
}
