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
// working hours, and one message in five a reply to a recent one.
func generate(o exportOptions) []message {
	rng := rand.New(rand.NewPCG(o.Seed, 54930))
	zipf := func(n int) int { // index in [0,n), small ones more often
		return int(math.Floor(math.Pow(rng.Float64(), 2.2) * float64(n)))
	}
	out := make([]message, o.Messages)
	t := time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC)
	var sb strings.Builder
	for i := range out {
		t = t.Add(time.Duration(1+rng.IntN(90)) * time.Second)
		if t.Hour() >= 22 { // the community sleeps
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 8, rng.IntN(60), 0, 0, time.UTC)
		}
		sb.Reset()
		n := 3 + zipf(58)
		for w := 0; w < n; w++ {
			if w > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[rng.IntN(len(words))])
		}
		m := message{
			Author:  zipf(o.Authors),
			Channel: channels[zipf(len(channels))],
			// Clock id from the index keeps TIDs unique within a second.
			RKey: syntax.NewTID(t.UnixMicro(), uint(i%1024)).String(),
			Text: sb.String(),
			At:   t,
		}
		if i > 10 && rng.IntN(5) == 0 {
			m.ReplyTo = out[i-1-rng.IntN(10)].RKey
		}
		out[i] = m
	}
	return out
}

func authorName(i int) string { return fmt.Sprintf("author%03d", i) }
