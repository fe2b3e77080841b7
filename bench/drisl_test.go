package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/bluesky-social/indigo/api/bsky"
	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// The drisl corpus is generated deterministically (no network, no files):
//
//   - records: 400 atproto records of several lexicons, each encoded on its
//     own as a repo stores them: posts with facets, langs, replies and
//     image/external/record embeds (blobs, links), likes, follows, reposts
//     and profiles with avatar and banner blobs;
//   - twitter: one large nested document shaped like the classic
//     twitter.json benchmark (a search result of 100 statuses with users,
//     entities, hashtags, mentions, URLs, retweets, unicode text, int64 ids,
//     booleans and nulls), about 0.5 MB of DRISL.
//
// Every benchmark decodes or encodes the whole corpus per iteration and sets
// the bytes to the corpus's DRISL size, so MB/s compare directly.
type drislCorpus struct {
	records    [][]byte // one DRISL block per record
	recordVals []any    // the same, decoded by townhall (generic model)
	posts      [][]byte // the app.bsky.feed.post records alone
	postBytes  int
	recBytes   int
	twitter    []byte
	twitterVal any
}

var (
	corpusOnce sync.Once
	corpus     drislCorpus
)

func drislData(b *testing.B) *drislCorpus {
	corpusOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		for i := range 400 {
			v := genRecord(r, i)
			enc, err := drisl.Marshal(v)
			if err != nil {
				panic(err)
			}
			corpus.records = append(corpus.records, enc)
			corpus.recordVals = append(corpus.recordVals, v)
			corpus.recBytes += len(enc)
			if v["$type"] == "app.bsky.feed.post" {
				corpus.posts = append(corpus.posts, enc)
				corpus.postBytes += len(enc)
			}
		}
		tw := genTwitter(rand.New(rand.NewPCG(3, 4)))
		enc, err := drisl.Marshal(tw)
		if err != nil {
			panic(err)
		}
		corpus.twitter = enc
		if err := drisl.Unmarshal(enc, &corpus.twitterVal); err != nil {
			panic(err)
		}
	})
	return &corpus
}

var words = strings.Fields(`the quick brown fox jumps over lazy dog atproto community repo bluesky
	federation signed commit merkle search tree chat moderation 日本語 テキスト Привет мир ünïcödé café
	naïve 🦋 🎉 emoji hello world data model lexicon record blob image video link post like follow`)

func sentence(r *rand.Rand, n int) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(words[r.IntN(len(words))])
	}
	return sb.String()
}

func fakeCID(r *rand.Rand, codec uint64) cid.Cid {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return drisl.SumCID(codec, b[:])
}

func fakeDID(r *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, 24)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return "did:plc:" + string(b)
}

func fakeTime(r *rand.Rand) string {
	return fmt.Sprintf("2024-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000))
}

func strongRef(r *rand.Rand, coll string) map[string]any {
	return map[string]any{
		"uri": "at://" + fakeDID(r) + "/" + coll + "/3k" + fmt.Sprintf("%011d", r.Int64N(1e11)),
		"cid": fakeCID(r, drisl.CodecDagCBOR).String(),
	}
}

func blob(r *rand.Rand, mime string) map[string]any {
	return drisl.Blob{Ref: fakeCID(r, drisl.CodecRaw), MimeType: mime, Size: 1000 + r.Int64N(900000)}.Value()
}

func genRecord(r *rand.Rand, i int) map[string]any {
	switch i % 10 {
	case 0, 1, 2, 3: // posts
		text := sentence(r, 5+r.IntN(40))
		post := map[string]any{
			"$type":     "app.bsky.feed.post",
			"text":      text,
			"createdAt": fakeTime(r),
			"langs":     []any{"en"},
		}
		if r.IntN(2) == 0 {
			end := int64(min(len(text), 20))
			post["facets"] = []any{map[string]any{
				"index":    map[string]any{"byteStart": int64(0), "byteEnd": end},
				"features": []any{map[string]any{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/" + sentence(r, 1)}},
			}, map[string]any{
				"index":    map[string]any{"byteStart": end, "byteEnd": end},
				"features": []any{map[string]any{"$type": "app.bsky.richtext.facet#mention", "did": fakeDID(r)}},
			}}
		}
		if r.IntN(3) == 0 {
			post["reply"] = map[string]any{"root": strongRef(r, "app.bsky.feed.post"), "parent": strongRef(r, "app.bsky.feed.post")}
		}
		switch r.IntN(4) {
		case 0:
			imgs := []any{}
			for range 1 + r.IntN(4) {
				imgs = append(imgs, map[string]any{
					"alt":         sentence(r, 6),
					"image":       blob(r, "image/jpeg"),
					"aspectRatio": map[string]any{"width": int64(1000 + r.IntN(3000)), "height": int64(1000 + r.IntN(3000))},
				})
			}
			post["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": imgs}
		case 1:
			post["embed"] = map[string]any{"$type": "app.bsky.embed.external", "external": map[string]any{
				"uri": "https://news.example/" + sentence(r, 1), "title": sentence(r, 8), "description": sentence(r, 20), "thumb": blob(r, "image/png"),
			}}
		case 2:
			post["embed"] = map[string]any{"$type": "app.bsky.embed.record", "record": strongRef(r, "app.bsky.feed.post")}
		}
		return post
	case 4, 5, 6: // likes
		return map[string]any{"$type": "app.bsky.feed.like", "subject": strongRef(r, "app.bsky.feed.post"), "createdAt": fakeTime(r)}
	case 7: // reposts
		return map[string]any{"$type": "app.bsky.feed.repost", "subject": strongRef(r, "app.bsky.feed.post"), "createdAt": fakeTime(r)}
	case 8: // follows
		return map[string]any{"$type": "app.bsky.graph.follow", "subject": fakeDID(r), "createdAt": fakeTime(r)}
	default: // profiles
		return map[string]any{
			"$type":       "app.bsky.actor.profile",
			"displayName": sentence(r, 2),
			"description": sentence(r, 30),
			"avatar":      blob(r, "image/jpeg"),
			"banner":      blob(r, "image/jpeg"),
			"createdAt":   fakeTime(r),
		}
	}
}

// genTwitter builds a document shaped like twitter.json.
func genTwitter(r *rand.Rand) map[string]any {
	user := func() map[string]any {
		id := r.Int64N(1 << 40)
		return map[string]any{
			"id": id, "id_str": fmt.Sprint(id), "name": sentence(r, 2), "screen_name": sentence(r, 1),
			"location": sentence(r, 2), "description": sentence(r, 15), "url": nil,
			"entities":  map[string]any{"description": map[string]any{"urls": []any{}}},
			"protected": false, "followers_count": int64(r.IntN(100000)), "friends_count": int64(r.IntN(5000)),
			"listed_count": int64(r.IntN(100)), "created_at": "Sun Aug 31 00:29:15 +0000 2014", "favourites_count": int64(r.IntN(10000)),
			"utc_offset": nil, "time_zone": nil, "geo_enabled": r.IntN(2) == 0, "verified": false, "statuses_count": int64(r.IntN(50000)),
			"lang": "ja", "contributors_enabled": false, "is_translator": false, "is_translation_enabled": false,
			"profile_background_color": "C0DEED", "profile_background_image_url": "http://abs.twimg.com/images/themes/theme1/bg.png",
			"profile_background_image_url_https": "https://abs.twimg.com/images/themes/theme1/bg.png", "profile_background_tile": false,
			"profile_image_url":       "http://pbs.twimg.com/profile_images/" + fmt.Sprint(id) + "/normal.jpeg",
			"profile_image_url_https": "https://pbs.twimg.com/profile_images/" + fmt.Sprint(id) + "/normal.jpeg",
			"profile_link_color":      "0084B4", "profile_sidebar_border_color": "C0DEED", "profile_sidebar_fill_color": "DDEEF6",
			"profile_text_color": "333333", "profile_use_background_image": true, "default_profile": true, "default_profile_image": false,
			"following": false, "follow_request_sent": false, "notifications": false,
		}
	}
	status := func() map[string]any {
		id := int64(500000000000000000) + r.Int64N(1<<50)
		hashtags := []any{}
		for range r.IntN(3) {
			hashtags = append(hashtags, map[string]any{"text": sentence(r, 1), "indices": []any{int64(r.IntN(50)), int64(50 + r.IntN(50))}})
		}
		mentions := []any{}
		for range r.IntN(3) {
			uid := r.Int64N(1 << 40)
			mentions = append(mentions, map[string]any{"screen_name": sentence(r, 1), "name": sentence(r, 2), "id": uid, "id_str": fmt.Sprint(uid), "indices": []any{int64(0), int64(12)}})
		}
		return map[string]any{
			"metadata":   map[string]any{"result_type": "recent", "iso_language_code": "ja"},
			"created_at": "Sun Aug 31 00:29:15 +0000 2014", "id": id, "id_str": fmt.Sprint(id), "text": sentence(r, 12),
			"source":    `<a href="https://mobile.twitter.com" rel="nofollow">Mobile Web (M2)</a>`,
			"truncated": false, "in_reply_to_status_id": nil, "in_reply_to_status_id_str": nil, "in_reply_to_user_id": nil,
			"in_reply_to_user_id_str": nil, "in_reply_to_screen_name": nil, "user": user(), "geo": nil, "coordinates": nil,
			"place": nil, "contributors": nil, "retweet_count": int64(r.IntN(1000)), "favorite_count": int64(r.IntN(1000)),
			"entities":  map[string]any{"hashtags": hashtags, "symbols": []any{}, "urls": []any{}, "user_mentions": mentions},
			"favorited": false, "retweeted": false, "lang": "ja",
		}
	}
	statuses := []any{}
	for range 100 {
		s := status()
		if r.IntN(3) == 0 {
			s["retweeted_status"] = status()
		}
		statuses = append(statuses, s)
	}
	return map[string]any{
		"statuses": statuses,
		"search_metadata": map[string]any{
			"completed_in": 0.087, "max_id": int64(505874924095815681), "max_id_str": "505874924095815681",
			"next_results": "?max_id=505874915338104831&q=%E4%B8%80&count=100&include_entities=1", "query": "%E4%B8%80",
			"refresh_url": "?since_id=505874924095815681&q=%E4%B8%80&include_entities=1", "count": int64(100),
			"since_id": int64(0), "since_id_str": "0",
		},
	}
}

// orderedDec decodes into the ordered generic model (maps as drisl.Map),
// the townhall-ordered sub-benchmarks.
var orderedDec = drisl.DecOptions{OrderedMaps: true}

// BenchmarkDrislDecodeRecords decodes every record of the corpus into the
// generic value model with strict checking (townhall; townhall-ordered with
// maps as drisl.Map), with fxamacker/cbor's default options (not strict: it
// accepts non-DRISL input), and with indigo's atdata.UnmarshalCBOR
// (go-ipld-cbor underneath, plus the atproto data-model parse).
func BenchmarkDrislDecodeRecords(b *testing.B) {
	c := drislData(b)
	b.Run("townhall", func(b *testing.B) {
		b.SetBytes(int64(c.recBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, rec := range c.records {
				var v any
				if err := drisl.Unmarshal(rec, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("townhall-ordered", func(b *testing.B) {
		b.SetBytes(int64(c.recBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, rec := range c.records {
				var v any
				if err := orderedDec.Unmarshal(rec, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("fxamacker", func(b *testing.B) {
		b.SetBytes(int64(c.recBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, rec := range c.records {
				var v any
				if err := cbor.Unmarshal(rec, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("indigo", func(b *testing.B) {
		b.SetBytes(int64(c.recBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, rec := range c.records {
				if _, err := atdata.UnmarshalCBOR(rec); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkDrislEncodeRecords encodes every record from the generic value
// model (townhall-ordered: from the ordered model, decoded once). fxamacker
// encodes the values its own decoder produced (links as cbor.Tag), with
// default options (not canonical); indigo encodes the values
// atdata.UnmarshalCBOR produced with atdata.MarshalCBOR.
func BenchmarkDrislEncodeRecords(b *testing.B) {
	c := drislData(b)
	b.Run("townhall", func(b *testing.B) {
		b.SetBytes(int64(c.recBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range c.recordVals {
				if _, err := drisl.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("townhall-ordered", func(b *testing.B) {
		vals := make([]any, len(c.records))
		for i, rec := range c.records {
			if err := orderedDec.Unmarshal(rec, &vals[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(c.recBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range vals {
				if _, err := drisl.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("fxamacker", func(b *testing.B) {
		vals := make([]any, len(c.records))
		for i, rec := range c.records {
			if err := cbor.Unmarshal(rec, &vals[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(c.recBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range vals {
				if _, err := cbor.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("indigo", func(b *testing.B) {
		vals := make([]map[string]any, len(c.records))
		for i, rec := range c.records {
			v, err := atdata.UnmarshalCBOR(rec)
			if err != nil {
				b.Fatal(err)
			}
			vals[i] = v
		}
		out, err := atdata.MarshalCBOR(vals[0])
		if err != nil || !bytes.Equal(out, c.records[0]) {
			b.Fatalf("indigo does not reproduce the record bytes: %v", err)
		}
		b.SetBytes(int64(c.recBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range vals {
				if _, err := atdata.MarshalCBOR(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkDrislDecodePosts decodes app.bsky.feed.post records into a typed
// Go value: townhall's reflect path into a tagged struct of the same shape
// (postShape), and indigo's generated cbor-gen decoder into bsky.FeedPost;
// townhall-ordered decodes them into a drisl.Map instead, without a struct.
func BenchmarkDrislDecodePosts(b *testing.B) {
	c := drislData(b)
	b.Run("townhall", func(b *testing.B) {
		b.SetBytes(int64(c.postBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, rec := range c.posts {
				var p postShape
				if err := drisl.Unmarshal(rec, &p); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("townhall-ordered", func(b *testing.B) {
		// No struct: the ordered generic model, into a drisl.Map.
		b.SetBytes(int64(c.postBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, rec := range c.posts {
				var m drisl.Map
				if err := drisl.Unmarshal(rec, &m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("indigo", func(b *testing.B) {
		b.SetBytes(int64(c.postBytes))
		b.ReportAllocs()
		for b.Loop() {
			for _, rec := range c.posts {
				var p bsky.FeedPost
				if err := p.UnmarshalCBOR(bytes.NewReader(rec)); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// postShape is app.bsky.feed.post as a plain tagged struct.
type postShape struct {
	Type      string   `cbor:"$type"`
	Text      string   `cbor:"text"`
	CreatedAt string   `cbor:"createdAt"`
	Langs     []string `cbor:"langs,omitempty"`
	Facets    []struct {
		Index struct {
			ByteStart int64 `cbor:"byteStart"`
			ByteEnd   int64 `cbor:"byteEnd"`
		} `cbor:"index"`
		Features []map[string]any `cbor:"features"`
	} `cbor:"facets,omitempty"`
	Reply *struct {
		Root   map[string]string `cbor:"root"`
		Parent map[string]string `cbor:"parent"`
	} `cbor:"reply,omitempty"`
	Embed map[string]any `cbor:"embed,omitempty"`
}

// BenchmarkDrislDecodeTwitter decodes the twitter-like document
// (townhall-ordered: into the ordered model, maps as drisl.Map).
func BenchmarkDrislDecodeTwitter(b *testing.B) {
	c := drislData(b)
	b.Run("townhall", func(b *testing.B) {
		b.SetBytes(int64(len(c.twitter)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := drisl.Unmarshal(c.twitter, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("townhall-ordered", func(b *testing.B) {
		b.SetBytes(int64(len(c.twitter)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := orderedDec.Unmarshal(c.twitter, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("townhall-validate", func(b *testing.B) {
		b.SetBytes(int64(len(c.twitter)))
		b.ReportAllocs()
		for b.Loop() {
			if err := drisl.Validate(c.twitter); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fxamacker", func(b *testing.B) {
		b.SetBytes(int64(len(c.twitter)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := cbor.Unmarshal(c.twitter, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fxamacker-strict", func(b *testing.B) {
		// The "fxamacker underneath" design: townhall's validator for the
		// rules fxamacker cannot enforce, then fxamacker with its strictest
		// options to build the value.
		dm, err := cbor.DecOptions{
			DupMapKey:       cbor.DupMapKeyEnforcedAPF,
			IndefLength:     cbor.IndefLengthForbidden,
			UTF8:            cbor.UTF8RejectInvalid,
			DefaultMapType:  reflect.TypeOf(map[string]any(nil)),
			IntDec:          cbor.IntDecConvertSigned,
			MaxNestedLevels: 128,
			TagsMd:          cbor.TagsAllowed,
		}.DecMode()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(c.twitter)))
		b.ReportAllocs()
		for b.Loop() {
			if err := drisl.Validate(c.twitter); err != nil {
				b.Fatal(err)
			}
			var v any
			if err := dm.Unmarshal(c.twitter, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("indigo", func(b *testing.B) {
		// atdata refuses floats (search_metadata.completed_in) and records
		// over 1 MiB, so indigo decodes the statuses one by one.
		var v map[string]any
		if err := drisl.Unmarshal(c.twitter, &v); err != nil {
			b.Fatal(err)
		}
		var parts [][]byte
		n := 0
		for _, s := range v["statuses"].([]any) {
			enc, _ := drisl.Marshal(s)
			parts = append(parts, enc)
			n += len(enc)
		}
		b.SetBytes(int64(n))
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range parts {
				if _, err := atdata.UnmarshalCBOR(p); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkDrislEncodeTwitter encodes the twitter-like document
// (townhall-ordered: from the ordered model, decoded once).
func BenchmarkDrislEncodeTwitter(b *testing.B) {
	c := drislData(b)
	b.Run("townhall", func(b *testing.B) {
		b.SetBytes(int64(len(c.twitter)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := drisl.Marshal(c.twitterVal); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("townhall-ordered", func(b *testing.B) {
		var v any
		if err := orderedDec.Unmarshal(c.twitter, &v); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(c.twitter)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := drisl.Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fxamacker", func(b *testing.B) {
		var v any
		if err := cbor.Unmarshal(c.twitter, &v); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(c.twitter)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cbor.Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fxamacker-canonical", func(b *testing.B) {
		em, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			b.Fatal(err)
		}
		var v any
		if err := cbor.Unmarshal(c.twitter, &v); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(c.twitter)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := em.Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDrislEncodeRecord encodes small Go struct records, as a repo
// import does: 1,000 chatMessage values (five or six string fields with
// cbor tags, about 200 bytes each), each passed as an any, each Marshal
// returning its own slice. fxamacker encodes the same values with its
// default options (not canonical) and with its core deterministic options,
// whose output is checked to equal townhall's.
func BenchmarkDrislEncodeRecord(b *testing.B) {
	g := newChatGen()
	recs := make([]any, 1000)
	n := 0
	for i := range recs {
		recs[i] = g.next(i)
		enc, err := drisl.Marshal(recs[i])
		if err != nil {
			b.Fatal(err)
		}
		n += len(enc)
	}
	b.Run("townhall", func(b *testing.B) {
		b.SetBytes(int64(n))
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range recs {
				if _, err := drisl.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("fxamacker", func(b *testing.B) {
		b.SetBytes(int64(n))
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range recs {
				if _, err := cbor.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("fxamacker-canonical", func(b *testing.B) {
		em, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range recs {
			want, _ := drisl.Marshal(v)
			got, err := em.Marshal(v)
			if err != nil || !bytes.Equal(got, want) {
				b.Fatalf("fxamacker's deterministic encoding differs from townhall's: %v", err)
			}
		}
		b.SetBytes(int64(n))
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range recs {
				if _, err := em.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
