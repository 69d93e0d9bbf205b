package capture

import "bufio"

// lookahead peeks far ahead in a bufio.Reader while resynchronising
// without making the search quadratic: a Peek past what is buffered slides
// the whole unread buffer to its start, and a search that did so at every
// candidate would copy the buffer once per candidate. lookahead refills
// only when less than half the buffer is unread, so each byte is copied at
// most about twice, and not at all once the file has ended.
type lookahead struct {
	r   *bufio.Reader
	eof bool
}

// peek returns the next n bytes without consuming them and true, or what
// is buffered and false when n bytes are not at hand: the file ends
// sooner, n exceeds the buffer, or they are not buffered and refilling
// now would cost more than the search may spend. Callers treat false as
// "cannot confirm".
func (l *lookahead) peek(n int) ([]byte, bool) {
	size := l.r.Size()
	if n <= size && l.r.Buffered() < n && !l.eof && l.r.Buffered() < size/2 {
		if _, err := l.r.Peek(size); err != nil && err != bufio.ErrBufferFull {
			l.eof = true
		}
	}
	if l.r.Buffered() >= n {
		b, _ := l.r.Peek(n)
		return b, true
	}
	b, _ := l.r.Peek(l.r.Buffered())
	return b, false
}
