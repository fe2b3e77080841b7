//go:build interop

package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
)

var repoCollections = []string{"app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow", "com.example.z", "dev.townhall.chat.message", "com.example.a.very.long.collection.name.for.key.heights"}

const rkeyChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:~-"

func randomRKey(r *rand.Rand) string {
	switch r.IntN(3) {
	case 0:
		return "" // a TID chosen by the repo
	case 1:
		return []string{"self", "a", "zzz", "3jzfcijpj2z2a", "~", "a.b:c"}[r.IntN(6)]
	}
	n := 1 + r.IntN(20)
	b := make([]byte, n)
	for i := range b {
		b[i] = rkeyChars[r.IntN(len(rkeyChars))]
	}
	if s := string(b); s == "." || s == ".." {
		return "dot"
	}
	return string(b)
}

// repoWrite is one write as both sides apply it (rkey resolved).
type repoWrite struct {
	Action     string `json:"action"`
	Collection string `json:"collection"`
	RKey       string `json:"rkey"`
	Record     *tv    `json:"record,omitempty"`
	CID        string `json:"cid,omitempty"` // Townhall's CID of the record
}

type repoBatch struct {
	Writes []repoWrite `json:"writes"`
	Data   string      `json:"data"` // Townhall's MST root after the batch
}

// wireEvent is a #commit event as handed to Node, with the verdict Townhall
// gives it.
type wireEvent struct {
	Name     string `json:"name"`
	Repo     string `json:"repo"`
	Commit   string `json:"commit"`
	Rev      string `json:"rev"`
	Blocks   []byte `json:"blocks"`
	PrevData string `json:"prevData"`
	Ops      []struct {
		Action string `json:"action"`
		Path   string `json:"path"`
		CID    string `json:"cid,omitempty"`
		Prev   string `json:"prev,omitempty"`
	} `json:"ops"`
	goErr error
}

type proofCase struct {
	Collection string `json:"collection"`
	RKey       string `json:"rkey"`
	Claim      string `json:"claim"` // "" claims absence
	CAR        []byte `json:"car"`
	// Townhall's reading of the proof: the proven CID, "" if proven absent.
	ours    string
	goErr   error
	present bool
}

func TestRepo(t *testing.T) {
	t.Parallel() // each family runs its own node process
	ctx := context.Background()
	r := rng("repo")
	key := newTestKey(t, r, r.IntN(2) == 0)
	pub, _ := key.priv.PublicKey()
	did := "did:plc:" + randomBase32(r, 24)
	clockAt := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
	clock := func() time.Time {
		clockAt = clockAt.Add(time.Duration(1+r.IntN(5000)) * time.Millisecond)
		return clockAt
	}
	store := repo.NewMemStore()
	rp, err := repo.Create(ctx, store, did, key.priv, repo.Options{Now: clock})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	initialData := rp.Head().Data.String()

	live := map[string]cid.Cid{} // path -> record CID
	// everShared: CIDs that two live records held at once (identical
	// content), for exception ts-shared-record-block.
	everShared := map[string]bool{}
	var deleted []string
	var batches []repoBatch
	var events []*repo.CommitEvent // nil where a commit was announced by #sync instead
	var states []*repo.SyncState
	nBatches := 25
	for bi := range nBatches {
		var writes []repo.Write
		touched := map[string]bool{}
		n := 1 + r.IntN(12)
		if bi < 2 {
			n = 150 - 30*bi // hundreds of records, in batches under the 200 ops of a #commit
		}
		paths := slices.Sorted(func(yield func(string) bool) {
			for p := range live {
				if !yield(p) {
					return
				}
			}
		})
		for range n {
			w := repo.Write{Action: repo.ActionCreate}
			if len(paths) > 0 && bi > 0 && r.IntN(2) == 0 {
				p := paths[r.IntN(len(paths))]
				if touched[p] {
					continue
				}
				col, rkey, _ := strings.Cut(p, "/")
				w = repo.Write{Action: repo.ActionUpdate, Collection: col, RKey: rkey}
				if r.IntN(2) == 0 {
					w.Action = repo.ActionDelete
				}
			} else {
				w.Collection = repoCollections[r.IntN(len(repoCollections))]
				w.RKey = randomRKey(r)
				if w.RKey != "" {
					p := w.Collection + "/" + w.RKey
					if _, ok := live[p]; ok || touched[p] {
						continue
					}
				}
			}
			if w.Action != repo.ActionDelete {
				rec := map[string]any{"$type": w.Collection}
				g := drislGen{r: r, atproto: true}
				for range 1 + r.IntN(5) {
					if k := g.key(); k != "$type" {
						rec[k] = g.value(2)
					}
				}
				w.Record = rec
			}
			if w.RKey != "" {
				touched[w.Collection+"/"+w.RKey] = true
			}
			writes = append(writes, w)
		}
		if len(writes) == 0 { // every draw collided: one create with a new TID
			writes = append(writes, repo.Write{Action: repo.ActionCreate, Collection: repoCollections[0], Record: map[string]any{"$type": repoCollections[0], "n": int64(bi)}})
		}
		oldCIDs := map[string]cid.Cid{}
		for _, w := range writes {
			if w.Action != repo.ActionCreate {
				p := w.Collection + "/" + w.RKey
				oldCIDs[p] = live[p]
			}
		}
		res, err := rp.Apply(ctx, writes, repo.ApplyOptions{})
		if err != nil {
			t.Fatalf("Apply batch %d: %v", bi, err)
		}
		batch := repoBatch{Data: res.Data.String()}
		for i, w := range writes {
			wr := res.Results[i]
			p := wr.Collection + "/" + wr.RKey
			bw := repoWrite{Action: string(w.Action), Collection: wr.Collection, RKey: wr.RKey}
			if w.Action == repo.ActionDelete {
				delete(live, p)
				deleted = append(deleted, p)
			} else {
				v := toTV(w.Record)
				bw.Record, bw.CID = &v, wr.CID.String()
				live[p] = wr.CID
			}
			batch.Writes = append(batch.Writes, bw)
		}
		holders := map[string]int{}
		for _, c := range live {
			holders[c.String()]++
		}
		for _, old := range oldCIDs {
			holders[old.String()]++ // held until this batch replaced it
		}
		for c, n := range holders {
			if n > 1 {
				everShared[c] = true
			}
		}
		batches = append(batches, batch)
		events = append(events, res.Event)
		states = append(states, &repo.SyncState{DID: did, Rev: res.Rev, Commit: res.Commit, Data: res.Data})
	}

	// The whole repository as a CAR.
	var car bytes.Buffer
	if err := rp.Export(ctx, &car); err != nil {
		t.Fatalf("Export: %v", err)
	}
	head := rp.Head()
	var records [][2]string
	for p, c := range live {
		records = append(records, [2]string{p, c.String()})
	}
	slices.SortFunc(records, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })

	// Record proofs: present records claimed right and wrong, deleted and
	// never-written keys claimed absent and present.
	var proofs []*proofCase
	paths := make([]string, 0, len(live))
	for p := range live {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	someCID := drisl.SumCID(drisl.CodecDagCBOR, []byte("not a record here")).String()
	for i := range 24 {
		var pc proofCase
		switch {
		case i < 10:
			p := paths[r.IntN(len(paths))]
			pc.Collection, pc.RKey, _ = strings.Cut(p, "/")
			pc.Claim, pc.present = live[p].String(), true
		case i < 13:
			p := paths[r.IntN(len(paths))]
			pc.Collection, pc.RKey, _ = strings.Cut(p, "/")
			pc.Claim, pc.present = someCID, true // wrong claim
		case i < 19 && len(deleted) > 0:
			p := deleted[r.IntN(len(deleted))]
			if _, back := live[p]; back {
				continue
			}
			pc.Collection, pc.RKey, _ = strings.Cut(p, "/")
			if i%2 == 0 {
				pc.Claim = someCID // claims a deleted record exists
			}
		default:
			pc.Collection, pc.RKey = repoCollections[r.IntN(len(repoCollections))], "never"+randomBase32(r, 6)
		}
		var buf bytes.Buffer
		if _, err := rp.ProveRecord(ctx, &buf, pc.Collection, pc.RKey); err != nil {
			t.Fatalf("ProveRecord %s/%s: %v", pc.Collection, pc.RKey, err)
		}
		pc.CAR = buf.Bytes()
		c, _, err := repo.VerifyRecordProof(ctx, bytes.NewReader(pc.CAR), pc.Collection, pc.RKey, repo.VerifyOptions{Key: pub, DID: did})
		switch {
		case err == nil:
			pc.ours = c.String()
		case isNotFound(err):
		default:
			pc.goErr = err
		}
		proofs = append(proofs, &pc)
	}

	// #commit events: as produced, and tampered. The consumer's clock is
	// fixed at the repository clock's last reading, which dated every rev,
	// instead of the machine's.
	consumerAt := clockAt
	consumer := func() time.Time { return consumerAt }
	var wire []*wireEvent
	var known *repo.SyncState
	for i, ev := range events {
		if ev == nil {
			known = states[i]
			continue
		}
		we := toWire(ev, "as produced")
		st, err := repo.VerifyCommitEvent(ctx, ev, repo.CommitCheckOptions{Key: pub, DID: did, Known: known, Now: consumer})
		we.goErr = err
		if err == nil {
			known = st
		}
		wire = append(wire, we)
		if i == 0 || len(ev.Ops) == 0 {
			continue
		}
		prevKnown := &repo.SyncState{DID: did, Data: *ev.PrevData}
		// One tampered copy per event, the kinds in turn (each costs the
		// reference a signature check).
		for _, kind := range [][]string{{"wrong op cid"}, {"wrong prevData"}, {"missing block"}}[i%3] {
			bad := tamper(t, r, ev, kind)
			if bad == nil {
				continue
			}
			we := toWire(bad, kind)
			_, we.goErr = repo.VerifyCommitEvent(ctx, bad, repo.CommitCheckOptions{Key: pub, DID: did, Known: prevKnown, Now: consumer})
			wire = append(wire, we)
		}
	}

	req := map[string]any{
		"did":         did,
		"key":         key.did,
		"priv":        key.priv.Bytes(),
		"k256":        key.k256,
		"car":         car.Bytes(),
		"initialData": initialData,
		"batches":     batches,
		"proofs":      proofs,
		"events":      wire,
	}
	var ans struct {
		CAR struct {
			OK      bool        `json:"ok"`
			Error   string      `json:"error"`
			Commit  string      `json:"commit"`
			Data    string      `json:"data"`
			Records [][2]string `json:"records"`
		} `json:"car"`
		Build struct {
			Error       string   `json:"error"`
			InitialData string   `json:"initialData"`
			Data        []string `json:"data"`
			CIDs        []string `json:"cids"`
			CAR         []byte   `json:"car"`
			CARError    string   `json:"carError"`
			Proofs      []struct {
				CAR   []byte `json:"car"`
				Error string `json:"error"`
			} `json:"proofs"`
			Commit string `json:"commit"`
		} `json:"build"`
		Proofs []struct {
			OK       bool   `json:"ok"`
			Error    string `json:"error"`
			Verified bool   `json:"verified"`
		} `json:"proofs"`
		Events []struct {
			Valid bool   `json:"valid"`
			Error string `json:"error"`
		} `json:"events"`
	}
	callNode(t, "repo", req, &ans)
	f := newFailures(t)
	stats := map[string]int{}

	// The CAR: verified there, same commit, data root and records.
	switch {
	case !ans.CAR.OK:
		f.add("@atproto/repo rejects our CAR", "%s", ans.CAR.Error)
	default:
		if ans.CAR.Commit != head.Commit.String() || ans.CAR.Data != head.Data.String() {
			f.add("CAR root differs", "ours commit %s data %s, theirs %s %s", head.Commit, head.Data, ans.CAR.Commit, ans.CAR.Data)
		}
		if !slices.Equal(records, ans.CAR.Records) {
			f.add("record lists differ", "ours %d records, theirs %d (first ours %v, theirs %v)", len(records), len(ans.CAR.Records), first(records), first(ans.CAR.Records))
		}
	}

	// The same writes applied there: same data root after every batch and
	// same record CIDs.
	if ans.Build.Error != "" {
		f.add("@atproto/repo could not apply our writes", "%s", ans.Build.Error)
	} else {
		if ans.Build.InitialData != initialData {
			f.add("empty-tree data root differs", "ours %s, theirs %s", initialData, ans.Build.InitialData)
		}
		for i, b := range batches {
			if i >= len(ans.Build.Data) || ans.Build.Data[i] != b.Data {
				f.add("data root differs after a batch", "batch %d (%d writes): ours %s, theirs %v", i, len(b.Writes), b.Data, at(ans.Build.Data, i))
			}
		}
		var ours []string
		for _, b := range batches {
			for _, w := range b.Writes {
				if w.CID != "" {
					ours = append(ours, w.CID)
				}
			}
		}
		if !slices.Equal(ours, ans.Build.CIDs) {
			f.add("record CIDs differ", "ours %d, theirs %d", len(ours), len(ans.Build.CIDs))
		}
		// Their repository, exported with getFullRepo, verifies here with
		// the same data root and records.
		var v *repo.VerifiedRepo
		var err error
		switch {
		case sharedBlockLost(ans.Build.CARError, live, everShared):
			// Exception ts-shared-record-block (README.md): the reference
			// dropped the block of a record another record shared.
			stats["exception ts-shared-record-block"]++
			err = errSkip
		case ans.Build.CARError != "":
			f.add("the reference cannot export its repository", "%s", ans.Build.CARError)
			err = errSkip
		default:
			v, err = repo.VerifyCAR(ctx, bytes.NewReader(ans.Build.CAR), repo.VerifyOptions{Key: pub, DID: did})
		}
		if err == errSkip {
		} else if err != nil {
			f.add("repo.VerifyCAR rejects the reference's repository", "%v", err)
		} else {
			var theirs [][2]string
			for _, e := range v.Records {
				theirs = append(theirs, [2]string{e.Collection + "/" + e.RKey, e.CID.String()})
			}
			slices.SortFunc(theirs, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
			if v.CommitCID.String() != ans.Build.Commit || v.Commit.Data != head.Data || !slices.Equal(theirs, records) {
				f.add("the reference's repository reads differently here", "commit %s (theirs %s), data %s (ours %s), %d records (ours %d)", v.CommitCID, ans.Build.Commit, v.Commit.Data, head.Data, len(theirs), len(records))
			}
		}
	}

	// Proofs made there (getRecords on its repository, for the same paths)
	// prove here what our repository holds.
	if ans.Build.Error == "" && !sharedBlockLost(ans.Build.CARError, live, everShared) {
		for i, pc := range proofs {
			if i >= len(ans.Build.Proofs) {
				f.add("reference proofs missing", "%d of %d", len(ans.Build.Proofs), len(proofs))
				break
			}
			rp := ans.Build.Proofs[i]
			if rp.Error != "" {
				f.add("the reference cannot make a proof", "%s/%s: %s", pc.Collection, pc.RKey, rp.Error)
				continue
			}
			c, _, err := repo.VerifyRecordProof(ctx, bytes.NewReader(rp.CAR), pc.Collection, pc.RKey, repo.VerifyOptions{Key: pub, DID: did})
			want, present := live[pc.Collection+"/"+pc.RKey]
			switch {
			case present && (err != nil || !c.Equals(want)):
				f.add("the reference's proof of a record does not prove it here", "%s/%s: got %v (%v), want %s", pc.Collection, pc.RKey, c, err, want)
			case !present && !isNotFound(err):
				f.add("the reference's proof of absence does not prove it here", "%s/%s: got %v (%v)", pc.Collection, pc.RKey, c, err)
			default:
				stats["reference proofs verified here"]++
			}
		}
	}

	// Proofs: the reference's verdict on each claim equals ours.
	proofStats := map[string]int{}
	for i, pc := range proofs {
		res := ans.Proofs[i]
		if pc.goErr != nil {
			f.add("our proof does not verify here", "%s/%s: %v", pc.Collection, pc.RKey, pc.goErr)
			continue
		}
		want := pc.ours == pc.Claim // our reading supports the claim
		proofStats[fmt.Sprintf("claim holds=%v", want)]++
		if !res.OK || res.Verified != want {
			f.add("proof verdicts differ", "%s/%s claim %q: ours proves %q (claim holds: %v), reference ok=%v verified=%v %s", pc.Collection, pc.RKey, pc.Claim, pc.ours, want, res.OK, res.Verified, res.Error)
		}
	}

	// Events: the reference's commit verification and inversion agree with
	// VerifyCommitEvent.
	for i, we := range wire {
		res := ans.Events[i]
		ours := we.goErr == nil
		stats[fmt.Sprintf("%s: valid=%v", we.Name, ours)]++
		if ours != res.Valid {
			f.add("event verdicts differ", "event %d (%s, %d ops): townhall valid=%v (%v), reference valid=%v (%s)", i, we.Name, len(we.Ops), ours, we.goErr, res.Valid, res.Error)
		}
	}
	f.done()
	t.Logf("%d batches, %d live records, %d deleted, proofs %v, events %v", len(batches), len(live), len(deleted), proofStats, stats)
	produced := 0
	for _, ev := range events {
		if ev != nil {
			produced++
		}
	}
	if produced < len(events)/2 || stats["as produced: valid=true"] != produced {
		t.Errorf("%d of %d events as produced verify on both sides (%d batches)", stats["as produced: valid=true"], produced, len(events))
	}
}

var errSkip = errors.New("skipped")

// sharedBlockLost reports whether the reference's export error is exception
// ts-shared-record-block: every block it misses is a live record's, with
// content another record shared at some point.
func sharedBlockLost(carErr string, live map[string]cid.Cid, everShared map[string]bool) bool {
	_, list, ok := strings.Cut(carErr, "missing mst leaf blocks: ")
	if !ok {
		return false
	}
	liveCIDs := map[string]bool{}
	for _, c := range live {
		liveCIDs[c.String()] = true
	}
	for _, c := range strings.Split(strings.TrimSpace(list), ",") {
		if !liveCIDs[c] || !everShared[c] {
			return false
		}
	}
	return true
}

func first(l [][2]string) any {
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

func at(l []string, i int) string {
	if i < len(l) {
		return l[i]
	}
	return "(none)"
}

func isNotFound(err error) bool { return err != nil && errorsIs(err, repo.ErrRecordNotFound) }

func randomBase32(r *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func toWire(ev *repo.CommitEvent, name string) *wireEvent {
	we := &wireEvent{Name: name, Repo: ev.Repo, Commit: ev.Commit.String(), Rev: ev.Rev, Blocks: ev.Blocks}
	if ev.PrevData != nil {
		we.PrevData = ev.PrevData.String()
	}
	for _, op := range ev.Ops {
		o := struct {
			Action string `json:"action"`
			Path   string `json:"path"`
			CID    string `json:"cid,omitempty"`
			Prev   string `json:"prev,omitempty"`
		}{Action: string(op.Action), Path: op.Path}
		if op.CID != nil {
			o.CID = op.CID.String()
		}
		if op.Prev != nil {
			o.Prev = op.Prev.String()
		}
		we.Ops = append(we.Ops, o)
	}
	return we
}

// tamper returns a copy of ev broken in one way, or nil if ev has nothing
// to break that way.
func tamper(t *testing.T, r *rand.Rand, ev *repo.CommitEvent, kind string) *repo.CommitEvent {
	bad := *ev
	bad.Ops = slices.Clone(ev.Ops)
	switch kind {
	case "wrong op cid":
		for i, op := range bad.Ops {
			if op.CID != nil {
				c := drisl.SumCID(drisl.CodecDagCBOR, []byte(fmt.Sprint("other", r.Uint64())))
				bad.Ops[i].CID = &c
				return &bad
			}
		}
		return nil
	case "wrong prevData":
		c := drisl.SumCID(drisl.CodecDagCBOR, []byte(fmt.Sprint("prev", r.Uint64())))
		bad.PrevData = &c
		return &bad
	case "missing block":
		// Drop one MST node (not the commit, not a record) from the CAR.
		rd, err := repo.NewCARReader(bytes.NewReader(ev.Blocks), repo.CAROptions{})
		if err != nil {
			t.Fatalf("read event CAR: %v", err)
		}
		var blocks []repo.Block
		for {
			c, data, err := rd.Next()
			if err != nil {
				break
			}
			blocks = append(blocks, repo.Block{CID: c, Data: data})
		}
		var nodes []int
		for i, b := range blocks {
			if b.CID.Equals(ev.Commit) {
				continue
			}
			var m map[string]any
			if drisl.Unmarshal(b.Data, &m) == nil {
				if _, ok := m["e"]; ok {
					if _, ok := m["l"]; ok {
						nodes = append(nodes, i)
					}
				}
			}
		}
		if len(nodes) == 0 {
			return nil
		}
		drop := nodes[r.IntN(len(nodes))]
		var buf bytes.Buffer
		w, err := repo.NewCARWriter(&buf, ev.Commit)
		if err != nil {
			t.Fatalf("CAR writer: %v", err)
		}
		for i, b := range blocks {
			if i != drop {
				if err := w.WriteBlock(b.CID, b.Data); err != nil {
					t.Fatalf("write block: %v", err)
				}
			}
		}
		bad.Blocks = buf.Bytes()
		return &bad
	}
	return nil
}
