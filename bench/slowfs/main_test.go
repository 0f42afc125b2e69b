package main

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// heldDevice is a device whose flushes end only when the test says so.
func heldDevice() (*device, chan struct{}, chan struct{}) {
	begun, end := make(chan struct{}), make(chan struct{})
	d := &device{delay: time.Millisecond, sleep: func(time.Duration) {
		begun <- struct{}{}
		<-end
	}}
	d.cond = sync.NewCond(&d.mu)
	return d, begun, end
}

// A request waits for a flush that began after it; every request that
// arrives while a flush is in flight is served by the next one, like a
// block device merging pending flushes.
func TestFlushesAreSerialisedAndMerged(t *testing.T) {
	d, begun, end := heldDevice()
	first := make(chan struct{})
	go func() { d.flush(); close(first) }()
	<-begun // flush 1 in flight

	const waiting = 5
	var wg sync.WaitGroup
	returned := make(chan int, waiting)
	for i := range waiting {
		wg.Add(1)
		go func() { defer wg.Done(); d.flush(); returned <- i }()
	}
	for {
		d.mu.Lock()
		n := d.requests
		d.mu.Unlock()
		if n == waiting+1 {
			break
		}
		runtime.Gosched()
	}
	end <- struct{}{} // flush 1 ends: serves only the first request
	<-first
	<-begun // flush 2 begins for the five that waited
	select {
	case i := <-returned:
		t.Fatalf("request %d returned while the flush serving it was in flight", i)
	default:
	}
	end <- struct{}{}
	wg.Wait()
	if d.flushes != 2 || d.requests != waiting+1 {
		t.Errorf("%d flushes for %d requests, want 2 for %d", d.flushes, d.requests, waiting+1)
	}
}
