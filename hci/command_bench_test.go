package hci

import (
	"context"
	"testing"
)

// creditConn hands out the same event packet n times, each only against a
// credit the consumer returns, so the benchmark measures the pipeline's
// throughput rather than how fast a flood overflows the report queue.
type creditConn struct {
	packet  []byte
	left    int
	credits chan struct{}
	closed  chan struct{}
}

func (r *creditConn) ReadPacket(p []byte) (int, error) {
	if r.left > 0 {
		select {
		case <-r.credits:
			r.left--
			return copy(p, r.packet), nil
		case <-r.closed:
			return 0, ErrClosed
		}
	}
	<-r.closed
	return 0, ErrClosed
}

func (r *creditConn) WritePacket([]byte) error { return nil }
func (r *creditConn) Close() error             { close(r.closed); return nil }

// BenchmarkLiveReportPath is the host's cost per live advertising report:
// the reader goroutine's copy and queueing, the decode and the callback,
// for a full-form Find My report.
func BenchmarkLiveReportPath(b *testing.B) {
	packet := cmdTestHex(b, "043E2B02010301A4253D086DFB1F1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E07F")
	const window = reportQueueLen / 2
	conn := &creditConn{packet: packet, left: b.N, credits: make(chan struct{}, window), closed: make(chan struct{})}
	for range window {
		conn.credits <- struct{}{}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(packet)))
	b.ResetTimer()
	ctl := newController(conn, 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	seen := 0
	err := ctl.Reports(ctx, func(*AdvReport) error {
		seen++
		if seen == b.N {
			cancel()
		}
		select {
		case conn.credits <- struct{}{}:
		default:
		}
		return nil
	})
	b.StopTimer()
	cancel()
	ctl.Close()
	if err != nil {
		b.Fatal(err)
	}
	if d := ctl.Stats().Dropped; d != 0 {
		b.Fatalf("%d reports dropped", d)
	}
}
