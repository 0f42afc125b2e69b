package transport

import "time"

// progressFuncs is a Progress made of two optional functions.
type progressFuncs struct {
	moved func(n int64)
	await func(until time.Time)
}

func (p progressFuncs) Moved(n int64) {
	if p.moved != nil {
		p.moved(n)
	}
}

func (p progressFuncs) Awaiting(until time.Time) {
	if p.await != nil {
		p.await(until)
	}
}
