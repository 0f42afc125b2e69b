package replica

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"cis490/internal/index"
	"cis490/internal/s3"
	"cis490/receiver/datadir"
	"cis490/receiver/replicalog"
)

// dirtyDaysLocked returns the days whose object lacks replicated rows.
func (r *Replicator) dirtyDaysLocked() map[string]bool {
	out := map[string]bool{}
	for day, n := range r.dayRows {
		if r.daysSent[day] != n {
			out[day] = true
		}
	}
	return out
}

// uploadDays rewrites the index object of every day that has new
// replicated rows and was not uploaded within IndexEvery (all of them
// with force). A day object holds the day's index rows, byte for byte, of
// the episodes the bucket confirmed: a consumer never finds a row whose
// episode is not there yet.
func (r *Replicator) uploadDays(ctx context.Context, now time.Time, force bool) {
	r.mu.Lock()
	var days []string
	from := int64(-1)
	for day := range r.dirtyDaysLocked() {
		if !force && now.Sub(r.daySentAt[day]) < r.o.IndexEvery {
			continue
		}
		days = append(days, day)
		if off := r.dayFirst[day]; from < 0 || off < from {
			from = off
		}
	}
	end := r.indexOff
	replicated := make(map[string]struct{}, len(r.replicated))
	if len(days) > 0 {
		for id := range r.replicated {
			replicated[id] = struct{}{}
		}
	}
	r.mu.Unlock()
	if len(days) == 0 {
		return
	}
	slices.Sort(days)
	ranges, err := dayRanges(datadir.New(r.o.DataDir).Index(), from, end, days, replicated)
	if err != nil {
		r.fail(nil, KindLocal, err)
		return
	}
	for _, day := range days {
		rs := ranges[day]
		if err := r.putDay(ctx, day, rs); err != nil {
			r.fail(nil, kindOf(err), err)
			return
		}
		r.mu.Lock()
		r.daysSent[day] = len(rs.spans)
		r.daySentAt[day] = now
		sent := make(map[string]int, len(r.daysSent))
		for k, v := range r.daysSent {
			sent[k] = v
		}
		r.mu.Unlock()
		if err := replicalog.WriteDays(r.o.DataDir, sent); err != nil {
			r.log.Warn("could not save the day object counts", "error", err)
		}
		r.event(Event{Kind: "day", ID: day})
	}
}

// dayObject is where one day's rows sit in index.jsonl.
type dayObject struct {
	spans []span
	size  int64
	sha   string
}

type span struct{ off, n int64 }

// dayRanges scans index.jsonl between from and end and returns, per day,
// the lines of replicated episodes received that day.
func dayRanges(path string, from, end int64, days []string, replicated map[string]struct{}) (map[string]*dayObject, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	defer f.Close()
	want := map[string]*dayObject{}
	hashes := map[string]io.Writer{}
	sums := map[string]func() string{}
	for _, d := range days {
		want[d] = &dayObject{}
		h := sha256.New()
		hashes[d] = h
		sums[d] = func() string { return hex.EncodeToString(h.Sum(nil)) }
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, from, end-from), 64<<10)
	seen := map[string]bool{}
	off := from
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			break
		}
		lineOff := off
		off += int64(len(line))
		row, perr := index.Parse(line[:len(line)-1])
		if perr != nil {
			continue
		}
		day, ok := dayOf(row.ReceivedAt)
		o := want[day]
		if !ok || o == nil || seen[row.ID] {
			continue
		}
		if _, ok := replicated[row.ID]; !ok {
			continue
		}
		seen[row.ID] = true
		o.spans = append(o.spans, span{lineOff, int64(len(line))})
		o.size += int64(len(line))
		hashes[day].Write(line)
	}
	for d, o := range want {
		o.sha = sums[d]()
	}
	return want, nil
}

// putDay uploads one day object, reading its lines from the index again.
func (r *Replicator) putDay(ctx context.Context, day string, o *dayObject) error {
	f, err := os.Open(datadir.New(r.o.DataDir).Index())
	if err != nil {
		return &kindError{KindLocal, err}
	}
	defer f.Close()
	readers := make([]io.Reader, len(o.spans))
	for i, s := range o.spans {
		readers[i] = io.NewSectionReader(f, s.off, s.n)
	}
	key := DayKey(r.o.Config.Prefix, day)
	var got string
	err = r.watch(ctx, func(ctx context.Context, progress func()) error {
		var err error
		got, err = r.client.Put(ctx, s3.PutInput{Key: key, Body: &progressReader{r: io.MultiReader(readers...), progress: progress},
			Size: o.size, SHA256: o.sha, ContentType: "application/x-ndjson"})
		return err
	})
	if err != nil {
		return err
	}
	if got != "" && got != o.sha {
		return &kindError{KindChecksum, fmt.Errorf("%s: the store answered checksum %s, want %s", key, got, o.sha)}
	}
	r.log.Info("index day uploaded", "day", day, "rows", len(o.spans))
	return nil
}
