package devicelink

import (
	"testing"
	"time"
)

// BenchmarkHistoryTransfer links a new device to a primary holding n conversations of
// history (5 records each, one a 1 KiB message) on loopback, with real stores: the time of
// the whole link (handshake, device added, every chunk written durably on the new device).
func BenchmarkHistoryTransfer(b *testing.B) {
	const n = 2000
	p := startPrimary(b)
	fillHistory(b, p.st, n, 1024)
	want := len(wantTransferred(b, p.st))
	var bytes int64
	for k, v := range wantTransferred(b, p.st) {
		bytes += int64(len(k) + len(v))
	}
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		b.StopTimer()
		d := startDevice(b)
		l := p.issue(b)
		b.StartTimer()
		start := time.Now()
		j, err := d.join(l, JoinOptions{})
		total += time.Since(start)
		if err != nil || j.Records != want {
			b.Fatalf("join: %d records of %d, %v", j.Records, want, err)
		}
	}
	b.ReportMetric(float64(want)/(total.Seconds()/float64(b.N)), "records/s")
	b.ReportMetric(float64(bytes)/(1<<20)/(total.Seconds()/float64(b.N)), "MiB/s")
}
