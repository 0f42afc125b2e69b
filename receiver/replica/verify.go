package replica

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"cis490/internal/index"
	"cis490/internal/s3"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
	"cis490/receiver/replicalog"
)

// Problem kinds of Verify.
const (
	ProblemMissing       = "missing"        // recorded as replicated, not in the bucket
	ProblemWrongChecksum = "wrong-checksum" // the object's bytes do not hash to the row
	ProblemWrongSize     = "wrong-size"     // the object's length differs from the row
	ProblemExtra         = "extra"          // an object no index row explains
	ProblemIndex         = "index-mismatch" // a day object holds a line the index does not
)

// Problem is one finding of Verify.
type Problem struct {
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	ID     string `json:"id,omitempty"`
	Detail string `json:"detail"`
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	OK       bool      `json:"ok"`
	Objects  int       `json:"objects"`
	Checked  int       `json:"checked"`
	Pending  int       `json:"pending"`
	Problems []Problem `json:"problems"`
}

// Verify lists the bucket under prefix and compares it with the index of
// dataDir (SPEC §17): every episode object is read back and hashed; an
// episode recorded in replica.jsonl but absent is missing; an object no
// row explains is extra; every line of a day object must be that day's
// index row, byte for byte. Episodes not replicated yet are counted as
// pending, not as problems.
func Verify(ctx context.Context, c *s3.Client, dataDir, prefix string, workers int) (VerifyReport, error) {
	rep := VerifyReport{Problems: []Problem{}}
	rows := map[string]index.Row{}
	lines := map[string]map[string]bool{} // day -> raw lines
	_, err := scanIndex(dataDir, func(r index.Row, line []byte) {
		if _, ok := rows[r.ID]; ok {
			return
		}
		rows[r.ID] = r
		if day, ok := dayOf(r.ReceivedAt); ok {
			if lines[day] == nil {
				lines[day] = map[string]bool{}
			}
			lines[day][string(line)] = true
		}
	})
	if err != nil {
		return rep, err
	}
	replicated, err := replicalog.Set(dataDir)
	if err != nil {
		return rep, err
	}
	var mu sync.Mutex
	add := func(p Problem) {
		mu.Lock()
		rep.Problems = append(rep.Problems, p)
		mu.Unlock()
	}
	seen := map[string]bool{}
	type job struct {
		key string
		row index.Row
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	var firstErr error
	for i := 0; i < max(workers, 1); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				sum, n, err := hashObject(ctx, c, j.key)
				switch {
				case err != nil:
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				case n != j.row.Bytes:
					add(Problem{ProblemWrongSize, j.key, j.row.ID, fmt.Sprintf("object has %d bytes, the row says %d", n, j.row.Bytes)})
				case sum != j.row.SHA256:
					add(Problem{ProblemWrongChecksum, j.key, j.row.ID, fmt.Sprintf("object hashes to %s, the row says %s", sum, j.row.SHA256)})
				}
				mu.Lock()
				rep.Checked++
				mu.Unlock()
			}
		}()
	}
	var dayKeys []string
	listErr := c.List(ctx, prefix, func(o s3.Object) error {
		rep.Objects++
		rest := strings.TrimPrefix(o.Key, prefix)
		if name, ok := strings.CutPrefix(rest, "episodes/"); ok {
			id, ok := strings.CutSuffix(name, wire.EpisodeSuffix)
			row, indexed := rows[id]
			if !ok || !indexed {
				add(Problem{ProblemExtra, o.Key, id, "no index row for this object"})
				return nil
			}
			seen[id] = true
			select {
			case jobs <- job{o.Key, row}:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}
		if name, ok := strings.CutPrefix(rest, "index/"); ok {
			if day, ok := strings.CutSuffix(name, ".jsonl"); ok && len(day) == 10 {
				dayKeys = append(dayKeys, o.Key)
				return nil
			}
		}
		add(Problem{ProblemExtra, o.Key, "", "not an episode or index object"})
		return nil
	})
	close(jobs)
	wg.Wait()
	if listErr != nil {
		return rep, listErr
	}
	if firstErr != nil {
		return rep, firstErr
	}
	for _, key := range dayKeys {
		day := strings.TrimSuffix(strings.TrimPrefix(key, prefix+"index/"), ".jsonl")
		if err := checkDay(ctx, c, key, lines[day], add); err != nil {
			return rep, err
		}
	}
	for id, r := range rows {
		if seen[id] {
			continue
		}
		if replicated[id] == r.SHA256 {
			add(Problem{ProblemMissing, Key(prefix, id), id, "recorded as replicated, but not in the bucket"})
		} else {
			rep.Pending++
		}
	}
	sort.Slice(rep.Problems, func(i, j int) bool { return rep.Problems[i].Key < rep.Problems[j].Key })
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// hashObject reads an object back and returns its sha256 and length.
func hashObject(ctx context.Context, c *s3.Client, key string) (string, int64, error) {
	rc, _, err := c.Get(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", n, fmt.Errorf("read %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// checkDay reports lines of a day object that are not that day's index
// rows.
func checkDay(ctx context.Context, c *s3.Client, key string, want map[string]bool, add func(Problem)) error {
	rc, _, err := c.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	n := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			n++
			if !want[string(bytes.TrimSuffix(line, []byte("\n")))] || line[len(line)-1] != '\n' {
				add(Problem{ProblemIndex, key, "", fmt.Sprintf("line %d is not a row of the local index for this day", n)})
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
	}
}

// scanIndex calls fn with every valid row of dataDir's index and its raw
// line.
func scanIndex(dataDir string, fn func(index.Row, []byte)) (bool, error) {
	return scanLines(datadir.New(dataDir).Index(), func(line []byte) {
		if r, err := index.Parse(line); err == nil {
			fn(r, line)
		}
	})
}
