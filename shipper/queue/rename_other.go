//go:build !(linux && (amd64 || arm64))

package queue

func renameNoReplace(oldpath, newpath string) error {
	return renameNoReplaceFallback(oldpath, newpath)
}
