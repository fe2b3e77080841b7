package bench

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"syscall"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atdata"
	ilex "github.com/bluesky-social/indigo/atproto/lexicon"
	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/lexicon"
)

// The lexicon corpus: the 402 real lexicons and the realistic app.bsky
// records that package lexicon tests with (../lexicon/testdata, same
// repository). Each record is held in both value models: townhall's (what
// drisl decodes) and indigo's (what atdata decodes), converted from the
// same JSON outside the timed loop.
const (
	lexiconDir     = "../lexicon/testdata/atproto-lexicons/lexicons"
	lexiconRecords = "../lexicon/testdata/records/valid.json"
)

type lexRecord struct {
	Name       string          `json:"name"`
	Collection string          `json:"collection"`
	RKey       string          `json:"rkey"`
	Record     json.RawMessage `json:"record"`
	townhall   any
	indigo     map[string]any
}

type lexCorpus struct {
	cat     *lexicon.Catalog
	icat    *ilex.BaseCatalog
	mix     []lexRecord // posts with facets and embeds, likes, follows, profiles
	posts   []lexRecord // the posts alone
	records []lexRecord // every sample record
}

var (
	lexOnce sync.Once
	lexC    *lexCorpus
	lexErr  error
)

func loadLexCorpus(tb testing.TB) *lexCorpus {
	tb.Helper()
	lexOnce.Do(func() { lexC, lexErr = buildLexCorpus() })
	if lexErr != nil {
		tb.Fatal(lexErr)
	}
	return lexC
}

func buildLexCorpus() (*lexCorpus, error) {
	ctx := context.Background()
	c := &lexCorpus{cat: lexicon.NewCatalog(lexicon.CatalogOptions{}), icat: ilex.NewBaseCatalog()}
	if err := c.cat.LoadDir(ctx, lexiconDir); err != nil {
		return nil, err
	}
	if err := c.cat.CheckRefs(ctx); err != nil {
		return nil, err
	}
	if err := c.icat.LoadDirectory(lexiconDir); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(lexiconRecords)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &c.records); err != nil {
		return nil, err
	}
	for i := range c.records {
		r := &c.records[i]
		if r.townhall, err = drisl.UnmarshalJSON(r.Record); err != nil {
			return nil, err
		}
		if r.indigo, err = atdata.UnmarshalJSON(r.Record); err != nil {
			return nil, err
		}
		switch r.Collection {
		case "app.bsky.feed.post":
			c.posts = append(c.posts, *r)
			c.mix = append(c.mix, *r)
		case "app.bsky.feed.like", "app.bsky.graph.follow", "app.bsky.actor.profile":
			c.mix = append(c.mix, *r)
		}
	}
	return c, nil
}

// TestLexiconAgree checks that both validators accept every benchmarked
// record, so that the benchmark compares complete validations.
func TestLexiconAgree(t *testing.T) {
	c := loadLexCorpus(t)
	for _, r := range c.records {
		if err := c.cat.ValidateRecord(context.Background(), r.Collection, r.RKey, r.townhall, lexicon.ValidateOptions{}); err != nil {
			t.Errorf("townhall: %s: %v", r.Name, err)
		}
		if err := ilex.ValidateRecord(c.icat, r.indigo, r.Collection, 0); err != nil {
			t.Errorf("indigo: %s: %v", r.Name, err)
		}
	}
	if len(c.posts) < 5 || len(c.mix) < 9 {
		t.Fatalf("corpus too small: %d posts, %d records in the mix", len(c.posts), len(c.mix))
	}
}

// lexCPU returns the CPU time (user + system, all threads, GC included) of
// this process in nanoseconds. The machine the benchmarks run on is shared
// and loaded, so wall-clock ns/op is noisy; cpu-ns/op is reported beside it.
func lexCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func lexReportCPU(b *testing.B) {
	start := lexCPU()
	b.Cleanup(func() { b.ReportMetric(float64(lexCPU()-start)/float64(b.N), "cpu-ns/op") })
}

// TestLexiconOracleInvalid runs the invalid sample records (mutations of
// the valid ones, lexicon/testdata/records/invalid.json) through both
// validators: townhall rejects them all; indigo, the oracle, must reject
// every one except those whose only fault is the record key, which its
// ValidateRecord does not check.
func TestLexiconOracleInvalid(t *testing.T) {
	c := loadLexCorpus(t)
	data, err := os.ReadFile("../lexicon/testdata/records/invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		lexRecord
		Constraint string `json:"constraint"`
	}
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		th, err := drisl.UnmarshalJSON(r.Record)
		if err != nil {
			t.Fatal(err)
		}
		ig, err := atdata.UnmarshalJSON(r.Record)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.cat.ValidateRecord(context.Background(), r.Collection, r.RKey, th, lexicon.ValidateOptions{}); err == nil {
			t.Errorf("townhall accepts %s", r.Name)
		}
		ierr := ilex.ValidateRecord(c.icat, ig, r.Collection, 0)
		if (ierr == nil) != (r.Constraint == "key") {
			t.Errorf("indigo on %s (%s): %v", r.Name, r.Constraint, ierr)
		}
	}
}

func benchLexicon(b *testing.B, recs []lexRecord) {
	c := loadLexCorpus(b)
	ctx := context.Background()
	b.Run("townhall", func(b *testing.B) {
		b.ReportAllocs()
		lexReportCPU(b)
		for b.Loop() {
			for i := range recs {
				if err := c.cat.ValidateRecord(ctx, recs[i].Collection, recs[i].RKey, recs[i].townhall, lexicon.ValidateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("indigo", func(b *testing.B) {
		b.ReportAllocs()
		lexReportCPU(b)
		for b.Loop() {
			for i := range recs {
				if err := ilex.ValidateRecord(c.icat, recs[i].indigo, recs[i].Collection, 0); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkLexiconValidate validates the mix (7 posts with facets, images,
// external, quote, record-with-media and labels; a like; a follow; a
// profile) per operation. townhall also checks each record key; indigo's
// ValidateRecord has no record-key check.
func BenchmarkLexiconValidate(b *testing.B) {
	benchLexicon(b, loadLexCorpus(b).mix)
}

// BenchmarkLexiconValidatePosts validates the 7 posts alone.
func BenchmarkLexiconValidatePosts(b *testing.B) {
	benchLexicon(b, loadLexCorpus(b).posts)
}

var lexDiffValues = []string{`null`, `true`, `0`, `-1`, `""`, `"x"`, `"2024-11-20T23:15:04Z"`, `"did:plc:ewvi7nxzyoun6zhxrhs64oiz"`,
	`"at://did:plc:x/a.b.c/d"`, `"https://x.y"`, `[]`, `{}`, `{"$type":"blob"}`, `{"$bytes":"AAAA"}`, `{"$link":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}`,
	`"en"`, `"fr-CA"`, `"🇯🇵"`, `[1]`, `["a"]`, `{"$type":"app.bsky.embed.images","images":[]}`, `{"$type":"com.atproto.label.defs#selfLabels","values":[]}`,
	`{"uri":"at://did:plc:x/a.b.c/d","cid":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}`, `1.5`, `"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"`}

func lexMutate(v any, r *rand.Rand) any {
	var nodes []func(any)
	var walk func(x any, set func(any))
	walk = func(x any, set func(any)) {
		nodes = append(nodes, set)
		switch c := x.(type) {
		case map[string]any:
			keys := make([]string, 0, len(c))
			for k := range c {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				k := k
				walk(c[k], func(n any) {
					if n == "DELETE" {
						delete(c, k)
					} else {
						c[k] = n
					}
				})
			}
		case []any:
			for i := range c {
				i := i
				walk(c[i], func(n any) { c[i] = n })
			}
		}
	}
	root := v
	walk(v, func(n any) { root = n })
	set := nodes[1+r.IntN(len(nodes)-1)]
	if r.IntN(4) == 0 {
		set("DELETE")
	} else {
		var nv any
		_ = json.Unmarshal([]byte(lexDiffValues[r.IntN(len(lexDiffValues))]), &nv) // constant, valid JSON
		set(nv)
	}
	return root
}

// TestLexiconDifferential mutates the sample records at random (a field
// deleted or replaced by a value of another type or shape, one to two
// times) and checks that townhall and indigo (the oracle) accept and reject
// the same records. Mutations that either JSON converter rejects are
// skipped.
func TestLexiconDifferential(t *testing.T) {
	c := loadLexCorpus(t)
	r := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	for i := 0; i < 3000; i++ {
		rec := c.records[r.IntN(len(c.records))]
		var v any
		if err := json.Unmarshal(rec.Record, &v); err != nil {
			t.Fatal(err)
		}
		for k := 0; k <= r.IntN(2); k++ {
			v = lexMutate(v, r)
		}
		b, _ := json.Marshal(v)
		th, err1 := drisl.UnmarshalJSON(b)
		ig, err2 := atdata.UnmarshalJSON(b)
		if err1 != nil || err2 != nil {
			counts["convert"]++
			continue
		}
		e1 := c.cat.ValidateRecord(context.Background(), rec.Collection, "", th, lexicon.ValidateOptions{})
		e2 := ilex.ValidateRecord(c.icat, ig, rec.Collection, 0)
		switch {
		case e1 == nil && e2 != nil:
			t.Errorf("townhall accepts, indigo: %v\n  %s", e2, b)
		case e1 != nil && e2 == nil:
			t.Errorf("townhall rejects (%v), indigo accepts\n  %s", e1, b)
		default:
			counts["agree"]++
		}
	}
	t.Log(counts)
	if counts["agree"] < 1000 {
		t.Fatalf("only %d comparable mutations", counts["agree"])
	}
}
