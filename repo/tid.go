package repo

import (
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Clock returns the current time. Tests and benchmarks inject one; nil
// means time.Now.
type Clock func() time.Time

// tidClock issues strictly increasing TIDs from an injected clock: when the
// clock does not move (or moves back) it steps one microsecond past the last
// TID. It plays the role of syntax.TIDClock, which reads time.Now itself.
type tidClock struct {
	mu      sync.Mutex
	now     Clock
	clockID uint
	last    int64 // unix microseconds of the last TID issued
}

func newTIDClock(now Clock, clockID uint) *tidClock {
	if now == nil {
		now = time.Now
	}
	return &tidClock{now: now, clockID: clockID & 0x3ff}
}

// observe makes the clock issue only TIDs after t.
func (c *tidClock) observe(t syntax.TID) {
	um := int64((t.Integer() >> 10) & 0x1FFF_FFFF_FFFF_FFFF)
	c.mu.Lock()
	if um > c.last {
		c.last = um
	}
	c.mu.Unlock()
}

func (c *tidClock) next() syntax.TID {
	um := c.now().UnixMicro()
	c.mu.Lock()
	if um <= c.last {
		um = c.last + 1
	}
	c.last = um
	c.mu.Unlock()
	return syntax.NewTID(um, c.clockID)
}
