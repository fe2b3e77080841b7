package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// message is one message of the generated chat export.
type message struct {
	Author  int    // index of the author
	Name    string // the author's name in the export
	Channel string // channel name
	RKey    string // TID derived from the timestamp (and the index)
	Text    string
	At      time.Time
	ReplyTo string // rkey of an earlier message, or ""
}

var words = strings.Fields(`the a to and of I you it is that in we for this on have be with so not
just what are was do can if but at like my all get they about think know me from out one up no now
will there good time how when yes see ok our yeah right need going make meeting tomorrow today
channel thread link doc draft review merge deploy bug fix test release issue coffee lunch thanks
great sounds plan idea community moderation invite room post update schedule agenda notes vote
proposal garden seeds compost tomatoes rain frost harvest beans swap saturday`)

var channels = []string{"general", "random", "help", "announcements", "seeds", "compost",
	"events", "offtopic", "tools", "recipes", "photos", "meta"}

// exportOptions shapes the generated export.
type exportOptions struct {
	Messages int
	Authors  int
	Seed     uint64
}

// generate returns a deterministic chat export: authors with a Zipf-like
// share of the messages (a few talk a lot), channels of uneven traffic,
// 3-60 words per message, a timestamp 1-90 s after the previous one over
// working hours, and one message in five a reply to a recent one. The
// import streams the same messages from an exporter instead, as it would
// read an export file, so that the whole export is never in memory.
func generate(o exportOptions) []message {
	e := newExporter(o)
	out := make([]message, 0, o.Messages)
	for m, ok := e.next(); ok; m, ok = e.next() {
		out = append(out, m)
	}
	return out
}

// exporter yields the messages of the export in order.
type exporter struct {
	o      exportOptions
	rng    *rand.Rand
	t      time.Time
	i      int
	recent [16]string // rkeys of the last messages, for replies
	text   []byte     // the message being written
	names  []string   // the authors' names
}

func newExporter(o exportOptions) *exporter {
	names := make([]string, o.Authors)
	for i := range names {
		names[i] = authorName(i)
	}
	return &exporter{o: o, rng: rand.New(rand.NewPCG(o.Seed, 54930)), t: time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC), names: names}
}

// zipf returns an index in [0,n), small ones more often.
func (e *exporter) zipf(n int) int {
	return int(math.Floor(math.Pow(e.rng.Float64(), 2.2) * float64(n)))
}

// next returns the next message, or false after the last one.
func (e *exporter) next() (message, bool) {
	if e.i >= e.o.Messages {
		return message{}, false
	}
	i, rng := e.i, e.rng
	e.i++
	e.t = e.t.Add(time.Duration(1+rng.IntN(90)) * time.Second)
	if e.t.Hour() >= 22 { // the community sleeps
		e.t = time.Date(e.t.Year(), e.t.Month(), e.t.Day()+1, 8, rng.IntN(60), 0, 0, time.UTC)
	}
	e.text = e.text[:0]
	n := 3 + e.zipf(58)
	for w := 0; w < n; w++ {
		if w > 0 {
			e.text = append(e.text, ' ')
		}
		e.text = append(e.text, words[rng.IntN(len(words))]...)
	}
	author := e.zipf(e.o.Authors)
	m := message{
		Author:  author,
		Name:    e.names[author],
		Channel: channels[e.zipf(len(channels))],
		// Clock id from the index keeps TIDs unique within a second.
		RKey: syntax.NewTID(e.t.UnixMicro(), uint(i%1024)).String(),
		Text: string(e.text),
		At:   e.t,
	}
	if i > 10 && rng.IntN(5) == 0 {
		m.ReplyTo = e.recent[(i-1-rng.IntN(10))%len(e.recent)]
	}
	e.recent[i%len(e.recent)] = m.RKey
	return m, true
}

func authorName(i int) string { return fmt.Sprintf("author%03d", i) }

// datetime formats t, which is in UTC, as an atproto datetime with
// milliseconds (time.Format's "2006-01-02T15:04:05.000Z", written out: the
// import formats one per message, and Format's layout parsing cost 2 % of
// the import's instructions).
func datetime(t time.Time) string {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	var b [24]byte
	put := func(at, width, v int) {
		for i := at + width - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, 4, year)
	b[4] = '-'
	put(5, 2, int(month))
	b[7] = '-'
	put(8, 2, day)
	b[10] = 'T'
	put(11, 2, hour)
	b[13] = ':'
	put(14, 2, min)
	b[16] = ':'
	put(17, 2, sec)
	b[19] = '.'
	put(20, 3, ms)
	b[23] = 'Z'
	return string(b[:])
}
