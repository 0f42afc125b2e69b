package replica

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"cis490/internal/index"
	"cis490/internal/s3"
	"cis490/internal/wire"
	"cis490/receiver/replicalog"
	"cis490/receiver/store"
)

// RestoreReport is the outcome of Restore.
type RestoreReport struct {
	Restored int       `json:"restored"`
	Present  int       `json:"present"`
	Problems []Problem `json:"problems"`
}

// Restore rebuilds a data directory from the bucket (the disaster path of
// docs/replica.md): for every row of every day object under prefix, the
// episode object is read, checked against the row's sha256 and size, and
// stored under its original row; it is recorded in replica.jsonl, since
// the bucket holds it. Episodes already stored are left alone, so a
// restore can be resumed. The caller holds the data directory's lock and
// st is the open store.
func Restore(ctx context.Context, c *s3.Client, st *store.Store, prefix string, now func() time.Time) (RestoreReport, error) {
	rep := RestoreReport{Problems: []Problem{}}
	var days []string
	err := c.List(ctx, prefix+"index/", func(o s3.Object) error {
		if strings.HasSuffix(o.Key, ".jsonl") {
			days = append(days, o.Key)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	sort.Strings(days)
	rec, err := replicalog.Open(st.Dir())
	if err != nil {
		return rep, err
	}
	defer rec.Close()
	replicated, err := replicalog.Set(st.Dir())
	if err != nil {
		return rep, err
	}
	for _, dayKey := range days {
		rc, _, err := c.Get(ctx, dayKey)
		if err != nil {
			return rep, err
		}
		var lines [][]byte
		br := bufio.NewReader(rc)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 && line[len(line)-1] == '\n' {
				lines = append(lines, bytes.TrimSuffix(line, []byte("\n")))
			}
			if err != nil {
				break
			}
		}
		rc.Close()
		for _, line := range lines {
			row, err := index.Parse(line)
			if err != nil {
				rep.Problems = append(rep.Problems, Problem{ProblemIndex, dayKey, "", err.Error()})
				continue
			}
			done, err := restoreOne(ctx, c, st, prefix, row, line)
			var se *s3.Error
			switch {
			case errors.As(err, &se) && se.Status == 404:
				rep.Problems = append(rep.Problems, Problem{ProblemMissing, Key(prefix, row.ID), row.ID, "the day object names it, the bucket does not hold it"})
				continue
			case errors.Is(err, store.ErrSHAMismatch) || errors.Is(err, store.ErrAborted):
				rep.Problems = append(rep.Problems, Problem{ProblemWrongChecksum, Key(prefix, row.ID), row.ID, err.Error()})
				continue
			case err != nil:
				return rep, err
			case !done:
				rep.Present++
			default:
				rep.Restored++
			}
			if replicated[row.ID] == "" {
				if err := rec.Append(replicalog.Row{ID: row.ID, SHA256: row.SHA256, At: wire.FormatTime(now())}); err != nil {
					return rep, err
				}
				replicated[row.ID] = row.SHA256
			}
		}
	}
	return rep, nil
}

func restoreOne(ctx context.Context, c *s3.Client, st *store.Store, prefix string, row index.Row, line []byte) (bool, error) {
	unlock, err := st.LockID(ctx, row.ID)
	if err != nil {
		return false, err
	}
	defer unlock()
	if s, found, err := st.Lookup(row.ID); err != nil || found {
		if err == nil && s.SHA256 != row.SHA256 {
			err = fmt.Errorf("restore %s: stored with sha256 %s, the bucket's row says %s", row.ID, s.SHA256, row.SHA256)
		}
		return false, err
	}
	rc, _, err := c.Get(ctx, Key(prefix, row.ID))
	if err != nil {
		return false, err
	}
	defer rc.Close()
	if err := st.Adopt(row, line, io.Reader(rc)); err != nil {
		return false, err
	}
	return true, nil
}
