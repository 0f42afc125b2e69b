//go:build !(linux && (amd64 || arm64))

package atomicio

// RenameNoReplace is rename(2) that fails with an error matching
// fs.ErrExist instead of replacing newpath; here, without renameat2, it is a
// checked rename.
func RenameNoReplace(oldpath, newpath string) error {
	return renameNoReplaceFallback(oldpath, newpath)
}
