package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// memcg is a memory cgroup the benchmark puts its servers into, so the page
// cache they fill is capped and recycled.
//
// Why: on a virtual machine whose free memory is handed back to the host
// (virtio-balloon free page reporting), every page the guest has not used in
// the last seconds faults on the host when first written. Buffered writes
// into fresh page cache then cost ≈ 2.7 CPU-seconds per GiB instead of
// ≈ 0.2 (measured with dd, docs/BENCHMARKS.md), the cost grows as a run goes
// on and free memory is consumed, and it swamps what the benchmark compares.
// A server that has been up for a while, like the receiver on the Pi, has a
// full page cache and recycles its own pages; the cap reproduces that.
type memcg struct {
	dir string
}

// newMemcg creates a memory cgroup limited to limit bytes (cgroup v1 memory
// controller or cgroup v2 with the memory controller available).
func newMemcg(limit int64) (*memcg, error) {
	name := fmt.Sprintf("receiverbench-%d", os.Getpid())
	if st, err := os.Stat("/sys/fs/cgroup/memory"); err == nil && st.IsDir() {
		dir := filepath.Join("/sys/fs/cgroup/memory", name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		m := &memcg{dir: dir}
		if err := m.write("memory.limit_in_bytes", strconv.FormatInt(limit, 10)); err != nil {
			m.close()
			return nil, err
		}
		return m, nil
	}
	ctl, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		return nil, errors.New("no cgroup memory controller at /sys/fs/cgroup")
	}
	if !strings.Contains(" "+strings.TrimSpace(string(ctl))+" ", " memory ") {
		return nil, errors.New("cgroup v2 without the memory controller")
	}
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+memory"), 0); err != nil {
		return nil, fmt.Errorf("enable the memory controller: %w", err)
	}
	dir := filepath.Join("/sys/fs/cgroup", name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	m := &memcg{dir: dir}
	if err := m.write("memory.max", strconv.FormatInt(limit, 10)); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

// add moves a process into the cgroup; its children stay there.
func (m *memcg) add(pid int) error {
	if m == nil {
		return nil
	}
	return m.write("cgroup.procs", strconv.Itoa(pid))
}

// close removes the cgroup once its processes have exited.
func (m *memcg) close() {
	if m != nil {
		os.Remove(m.dir)
	}
}

func (m *memcg) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(m.dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup %s: %w", file, err)
	}
	return nil
}
