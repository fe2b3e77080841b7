package repo

import (
	"fmt"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"
)

// maxTIDMicros is the latest timestamp a TID carries: 53 bits of
// microseconds since the UNIX epoch (https://atproto.com/specs/tid), which
// end at 2255-06-05T23:47:34.740991Z.
const maxTIDMicros = 1<<53 - 1

// tidClock issues strictly increasing TIDs from an injected clock: when the
// clock does not move (or moves back) it steps one microsecond past the last
// TID. It plays the role of syntax.TIDClock, which reads time.Now itself.
//
// syntax.NewTID keeps only the low 53 bits of the timestamp, so a reading
// after 2255 would wrap to a TID dated centuries earlier, a rev that sorts
// before the revs already issued. A reading before 1970 has no TID either
// (NewTID wraps it to the top of the range; stepping past the last TID
// would hide a broken clock behind revs dated 1970). next refuses both
// with ErrClockRange, and refuses to step past the latest TID.
type tidClock struct {
	mu      sync.Mutex
	now     func() time.Time
	clockID uint
	last    int64 // unix microseconds of the last TID issued
}

func newTIDClock(now func() time.Time, clockID uint) *tidClock {
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

func (c *tidClock) next() (syntax.TID, error) {
	t := c.now()
	// Compare times, not t.UnixMicro(), which is undefined far outside
	// the range.
	if t.Before(time.Unix(0, 0)) || !t.Before(time.UnixMicro(maxTIDMicros+1)) {
		return "", fmt.Errorf("%w: it reads %s; a TID dates 1970-01-01T00:00:00Z to %s", ErrClockRange,
			t.UTC().Format(time.RFC3339Nano), time.UnixMicro(maxTIDMicros).UTC().Format(time.RFC3339Nano))
	}
	um := t.UnixMicro()
	c.mu.Lock()
	defer c.mu.Unlock()
	if um <= c.last {
		if c.last >= maxTIDMicros {
			return "", fmt.Errorf("%w: the last TID issued or seen is the latest there is", ErrClockRange)
		}
		um = c.last + 1
	}
	c.last = um
	return syntax.NewTID(um, c.clockID), nil
}

// checkRevTime refuses (ErrFutureRev) a rev dated more than skew after
// clock's time: a nil clock is time.Now, a zero skew DefaultMaxClockSkew,
// and a negative skew disables the check.
func checkRevTime(rev syntax.TID, clock func() time.Time, skew time.Duration) error {
	if skew < 0 {
		return nil
	}
	if skew == 0 {
		skew = DefaultMaxClockSkew
	}
	if clock == nil {
		clock = time.Now
	}
	if now := clock(); rev.Time().After(now.Add(skew)) {
		return verr(ErrFutureRev, cid.Undef, fmt.Sprintf("rev %s is dated %s, more than %s after %s",
			rev, rev.Time().UTC().Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339)), nil)
	}
	return nil
}
