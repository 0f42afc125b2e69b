package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// genMtime is the mtime every generated entry gets, so that a tree made from
// one seed packs to the same bytes wherever it is generated.
var genMtime = time.Unix(1_763_900_000, 0)

// generate writes a synthetic episode of about size bytes under dir: half
// text (CSV logs, per-step JSON lines), half little-endian float32 arrays;
// three large files of each kind and thousands of small ones. The tree is a
// function of seed and size only.
func generate(dir string, seed uint64, size int64) error {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	text, floats := size/2, size-size/2
	var paths []string
	create := func(rel string, n int64, fill func(w *bufio.Writer, n int64)) error {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		fill(w, n)
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		paths = append(paths, p)
		return f.Close()
	}
	meta := fmt.Sprintf(`{"schema_version":"1","episode":"bench-%d","code_version":{"commit":"%040x"}}`+"\n", seed, seed)
	if err := create("meta.json", 0, func(w *bufio.Writer, _ int64) { w.WriteString(meta) }); err != nil {
		return err
	}
	// Text: three large CSV logs (3/4) and small JSON-lines step files (1/4).
	for i := range 3 {
		if err := create(fmt.Sprintf("logs/sensors-%d.csv", i), text*3/4/3, func(w *bufio.Writer, n int64) { csvRows(w, r, n) }); err != nil {
			return err
		}
	}
	for i, left := 0, text/4; left > 0; i++ {
		n := min(left, 2<<10+r.Int64N(60<<10))
		left -= n
		if err := create(fmt.Sprintf("steps/%03d/step-%05d.jsonl", i/500, i), n, func(w *bufio.Writer, n int64) { jsonLines(w, r, n) }); err != nil {
			return err
		}
	}
	// Floats: three large multi-channel recordings (3/4) and small chunks (1/4).
	for i := range 3 {
		if err := create(fmt.Sprintf("arrays/recording-%d.f32", i), floats*3/4/3, func(w *bufio.Writer, n int64) { signal(w, r, n, 16) }); err != nil {
			return err
		}
	}
	for i, left := 0, floats/4; left > 0; i++ {
		n := min(left, 64<<10+r.Int64N(192<<10))
		left -= n
		if err := create(fmt.Sprintf("arrays/chunks/%03d/chunk-%05d.f32", i/250, i), n, func(w *bufio.Writer, n int64) { signal(w, r, n, 4) }); err != nil {
			return err
		}
	}
	// Directories' mtimes last, deepest first, after all their entries exist.
	for _, p := range paths {
		if err := os.Chtimes(p, genMtime, genMtime); err != nil {
			return err
		}
	}
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return os.Chtimes(p, genMtime, genMtime)
	})
}

// csvRows writes n bytes of sensor log rows.
func csvRows(w *bufio.Writer, r *rand.Rand, n int64) {
	statuses := []string{"ok", "ok", "ok", "ok", "ok", "ok", "warn", "retry"}
	var b []byte
	t := int64(1_763_900_000_000)
	v := 20.0
	for written := int64(0); written < n; {
		b = b[:0]
		if written == 0 {
			b = append(b, "t_ms,step,sensor,value,raw,status\n"...)
		}
		t += 10 + r.Int64N(3)
		v += r.NormFloat64() * 0.05
		b = strconv.AppendInt(b, t, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, (t-1_763_900_000_000)/10, 10)
		b = append(b, ",sensor_"...)
		b = strconv.AppendInt(b, r.Int64N(24), 10)
		b = append(b, ',')
		b = strconv.AppendFloat(b, v, 'f', 6, 64)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.Int64N(4096), 10)
		b = append(b, ',')
		b = append(b, statuses[r.IntN(len(statuses))]...)
		b = append(b, '\n')
		written += int64(writeMax(w, b, n-written))
	}
}

// jsonLines writes n bytes of per-step JSON records.
func jsonLines(w *bufio.Writer, r *rand.Rand, n int64) {
	phases := []string{"reach", "grasp", "lift", "place", "release"}
	var b []byte
	for step, written := int64(0), int64(0); written < n; step++ {
		b = append(b[:0], `{"step":`...)
		b = strconv.AppendInt(b, step, 10)
		b = append(b, `,"t":`...)
		b = strconv.AppendFloat(b, 1_763_900_000+float64(step)*0.05, 'f', 3, 64)
		b = append(b, `,"obs":[`...)
		for j := range 8 {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, r.NormFloat64(), 'f', 5, 64)
		}
		b = append(b, `],"action":[`...)
		for j := range 4 {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, r.Float64()*2-1, 'f', 4, 64)
		}
		b = append(b, `],"reward":`...)
		b = strconv.AppendFloat(b, -r.Float64(), 'f', 3, 64)
		b = append(b, `,"done":false,"info":{"phase":"`...)
		b = append(b, phases[r.IntN(len(phases))]...)
		b = append(b, "\"}}\n"...)
		written += int64(writeMax(w, b, n-written))
	}
}

// signal writes n bytes of float32 samples: channels interleaved random walks
// with measurement noise, like recorded joint angles or forces.
func signal(w *bufio.Writer, r *rand.Rand, n int64, channels int) {
	level := make([]float64, channels)
	var b [4]byte
	for written := int64(0); written < n; {
		for c := range level {
			level[c] += r.NormFloat64() * 0.01
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(float32(level[c]+r.NormFloat64()*0.001)))
			written += int64(writeMax(w, b[:], n-written))
		}
	}
}

// writeMax writes at most max bytes of b and returns how many it wrote.
func writeMax(w *bufio.Writer, b []byte, max int64) int {
	if int64(len(b)) > max {
		b = b[:max]
	}
	w.Write(b)
	return len(b)
}
