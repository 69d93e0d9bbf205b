package hci

import (
	"sync/atomic"
	"time"
)

// Data status values of an extended report's event type, bits 5-6 (Core
// spec Vol 4 Part E §7.7.65.13).
// Value 2 is "incomplete, truncated"; 3 is reserved.
const (
	dataComplete   = 0
	dataMoreToCome = 1
)

// Reassembly limits. A controller splits advertising data longer than one
// event holds (or than one AUX PDU carried) into several LE Extended
// Advertising Reports with data status "incomplete, more to come", the
// last one "complete" (§7.7.65.13); the pieces of one advertising event
// arrive within its AUX_CHAIN_IND spacing, milliseconds apart.
const (
	// MaxExtendedAdvData is the most advertising data one advertising set
	// can carry (Core spec Vol 4 Part E §7.8.57, Maximum_Advertising_Data
	// _Length at most 1650).
	MaxExtendedAdvData = 1650
	// reassemblyTimeout drops a partial report whose next piece has not
	// come within it.
	reassemblyTimeout = time.Second
	// maxReassemblies bounds the advertisers reassembled at once; past it
	// the oldest partial report is dropped.
	maxReassemblies = 32
)

// ReassemblyStats count what the decoder did with fragmented extended
// reports.
type ReassemblyStats struct {
	// Reassembled is how many reports were delivered whole after arriving
	// in more than one piece.
	Reassembled uint64
	// Dropped is how many partial reports were given up: the controller
	// truncated them, their next piece did not come in time, they grew
	// past MaxExtendedAdvData, or too many advertisers were in progress.
	Dropped uint64
}

// reassemblyKey names one advertising set of one advertiser.
type reassemblyKey struct {
	addrType uint8
	addr     [6]byte
	sid      uint8
}

type partialReport struct {
	key     reassemblyKey
	started time.Time
	data    []byte
	// discarding is set once the report grew too long: its later pieces
	// are swallowed, so that its tail is not taken for a whole report.
	discarding bool
}

// reassembler joins the pieces of fragmented extended reports, bounded in
// the number of advertisers, the bytes per report and time.
type reassembler struct {
	pending []partialReport
	free    [][]byte
	whole   []byte // the last report delivered whole; valid until the next
	stats   struct{ reassembled, dropped atomic.Uint64 }
}

func (a *reassembler) find(k reassemblyKey) int {
	for i := range a.pending {
		if a.pending[i].key == k {
			return i
		}
	}
	return -1
}

func (a *reassembler) drop(i int) {
	a.stats.dropped.Add(1)
	a.release(i)
}

func (a *reassembler) release(i int) {
	a.free = append(a.free, a.pending[i].data[:0])
	last := len(a.pending) - 1
	a.pending[i] = a.pending[last]
	a.pending = a.pending[:last]
}

// add takes one extended report. deliver says whether to hand r on; when
// it is set after pieces were joined, r.Data is the whole data (valid
// until the next call) and the data status says complete.
func (a *reassembler) add(r *AdvReport) (deliver bool) {
	if r.EventType&ExtEventLegacy != 0 {
		return true
	}
	status := r.DataStatus()
	k := reassemblyKey{r.AddrType, r.Addr, r.SID}
	i := a.find(k)
	if i >= 0 && absDuration(r.Time.Sub(a.pending[i].started)) > reassemblyTimeout {
		a.drop(i)
		i = -1
	}
	switch status {
	case dataMoreToCome:
		if i < 0 {
			if len(a.pending) >= maxReassemblies {
				a.drop(a.oldest())
			}
			var buf []byte
			if n := len(a.free); n > 0 {
				buf, a.free = a.free[n-1], a.free[:n-1]
			}
			a.pending = append(a.pending, partialReport{key: k, started: r.Time, data: buf})
			i = len(a.pending) - 1
		}
		p := &a.pending[i]
		if p.discarding {
			return false
		}
		if len(p.data)+len(r.Data) > MaxExtendedAdvData {
			a.stats.dropped.Add(1)
			p.discarding, p.data = true, p.data[:0]
			return false
		}
		p.data = append(p.data, r.Data...)
		return false
	case dataComplete:
		if i < 0 {
			return true
		}
		p := &a.pending[i]
		if p.discarding {
			a.release(i)
			return false
		}
		if len(p.data)+len(r.Data) > MaxExtendedAdvData {
			a.drop(i)
			return false
		}
		a.whole = append(append(a.whole[:0], p.data...), r.Data...)
		a.release(i)
		a.stats.reassembled.Add(1)
		r.Data = a.whole[:len(a.whole):len(a.whole)]
		return true
	default:
		// Truncated (or the reserved value): the rest will not come.
		if i >= 0 {
			if a.pending[i].discarding {
				a.release(i)
				return false
			}
			a.drop(i)
		}
		return true
	}
}

func (a *reassembler) oldest() int {
	o := 0
	for i := range a.pending {
		if a.pending[i].started.Before(a.pending[o].started) {
			o = i
		}
	}
	return o
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
