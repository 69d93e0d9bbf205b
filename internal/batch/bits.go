package batch

import "errors"

// bitWriter writes bits most significant first.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) writeBits(v uint64, n uint) {
	for n > 0 {
		take := min(n, 56-w.nacc)
		w.acc = w.acc<<take | (v>>(n-take))&(1<<take-1)
		w.nacc += take
		n -= take
		for w.nacc >= 8 {
			w.nacc -= 8
			w.buf = append(w.buf, byte(w.acc>>w.nacc))
		}
	}
}

// writeRice writes v>>k in unary (ones closed by a zero) and the low k bits.
func (w *bitWriter) writeRice(v uint64, k uint8) {
	for q := v >> k; q > 0; {
		step := min(q, 32)
		w.writeBits(1<<step-1, uint(step))
		q -= step
	}
	w.writeBits(0, 1)
	w.writeBits(v, uint(k))
}

// finish pads the last byte with zero bits.
func (w *bitWriter) finish() []byte {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc<<(8-w.nacc)))
		w.nacc = 0
	}
	return w.buf
}

type bitReader struct {
	buf []byte
	pos uint // in bits
}

var errShort = errors.New("bit stream ends early")

func (r *bitReader) readBit() (uint64, error) {
	if r.pos >= uint(len(r.buf))*8 {
		return 0, errShort
	}
	b := r.buf[r.pos/8] >> (7 - r.pos%8) & 1
	r.pos++
	return uint64(b), nil
}

func (r *bitReader) readBits(n uint) (uint64, error) {
	if r.pos+n > uint(len(r.buf))*8 {
		return 0, errShort
	}
	var v uint64
	for n > 0 {
		byteIdx, bitOff := r.pos/8, r.pos%8
		avail := 8 - bitOff
		take := min(n, avail)
		chunk := uint64(r.buf[byteIdx]>>(avail-take)) & (1<<take - 1)
		v = v<<take | chunk
		r.pos += take
		n -= take
	}
	return v, nil
}

func (r *bitReader) readRice(k uint8) (uint64, error) {
	var q uint64
	for {
		b, err := r.readBit()
		if err != nil {
			return 0, err
		}
		if b == 0 {
			break
		}
		q++
		if k > 0 && q >= 1<<(64-uint(k)) {
			return 0, errors.New("unary quotient overflows 64 bits")
		}
	}
	low, err := r.readBits(uint(k))
	if err != nil {
		return 0, err
	}
	return q<<k | low, nil
}

// finish requires that only zero padding, less than a byte, remains.
func (r *bitReader) finish() error {
	total := uint(len(r.buf)) * 8
	if total-r.pos >= 8 {
		return errors.New("trailing bytes after the last entry")
	}
	for r.pos < total {
		if b, _ := r.readBit(); b != 0 {
			return errors.New("non-zero padding bits")
		}
	}
	return nil
}
