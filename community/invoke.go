package community

import (
	"context"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/internal/recordkey"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// Commands a community executes. Members' grants cover /repo (writes, with a
// collection and audience policy) and /audience/read; moderators and
// founders hold "/" (everything, including the /community acts).
const (
	CmdCreate   = "/repo/create"        // args {collection, rkey, cid, audience?}
	CmdUpdate   = "/repo/update"        // args {collection, rkey, cid, audience?}
	CmdDelete   = "/repo/delete"        // args {collection, rkey, audience?}
	CmdBatch    = "/repo/batch"         // args {writes: [{action, collection, rkey, cid?, audience?}]} or {collection, action?, audience?, writes: [{rkey, cid?, action?}]}
	CmdModerate = "/community/delete"   // args {collection, rkey, audience?, reason?}: delete anyone's record
	CmdRevoke   = "/community/revoke"   // args {delegation: link, reason?}
	CmdBan      = "/community/ban"      // args {member: did, reason?}
	CmdAudience = "/community/audience" // args {name, readers?: [role]}
	CmdInvite   = "/community/invite"   // args {sessionKey, member, grants: [link]}
	CmdRead     = "/audience/read"      // args {audience}
	CmdJoin     = "/community/join"     // join proof: args {member, serviceAuth}, signed by the session key
)

// Request is an invocation with what travels beside it.
type Request struct {
	// Invocation is the signed UCAN invocation token.
	Invocation []byte
	// Proofs are delegation tokens the invocation's prf names. They may be
	// omitted when the community recorded them (every grant is recorded).
	Proofs [][]byte
	// Records are the DRISL bytes of the records the invocation writes, in
	// the order of its writes that carry a cid. Invoke copies each before
	// checking it, and commits its copy without checking it again: the
	// caller may reuse the slices once Invoke has returned.
	Records [][]byte
}

// Invoke executes one authorised act: a write (/repo/create, /repo/update,
// /repo/delete, /repo/batch) or a moderation act (/community/delete,
// /community/revoke, /community/ban, /community/audience). The checks, in
// order: sizes; the invocation and its chain (ucan.Validator with the
// community's recorded grants, revocations and a replay guard; the chain's
// policies hold the collection and audience allow-lists); its lifetime
// (exp required, at most Limits.MaxInvocationTTL ahead); the invoker bound to
// a member who is not banned; the arguments; reserved collections; each
// record's CID, DRISL and lexicon; then, in the writer, revocations and bans
// again, record existence and ownership. A refused request writes nothing.
// Once a request is queued for the writer, Invoke waits for its outcome even
// if ctx ends, so that the caller always learns whether it was committed.
func (c *Community) Invoke(ctx context.Context, req *Request) (*Result, error) {
	if req == nil {
		return nil, errf(ErrBadRequest, -1, nil, "no request")
	}
	ctx, f := c.takeOff(ctx)
	defer f.land()
	lim := c.host.limits
	if len(req.Records) > lim.MaxBatchWrites {
		return nil, errf(ErrRecordTooLarge, -1, nil, "%d records, limit %d", len(req.Records), lim.MaxBatchWrites)
	}
	for i, r := range req.Records {
		if len(r) > lim.MaxRecordBytes {
			return nil, errf(ErrRecordTooLarge, i, nil, "%d bytes, limit %d", len(r), lim.MaxRecordBytes)
		}
	}
	inv, member, err := c.authorize(ctx, req.Invocation, req.Proofs)
	if err != nil {
		return nil, err
	}
	switch inv.Command {
	case CmdCreate, CmdUpdate, CmdDelete, CmdBatch:
		return c.write(ctx, inv, member, req.Records)
	case CmdModerate:
		return c.moderateDelete(ctx, inv, member)
	case CmdRevoke:
		return c.revoke(ctx, inv, member)
	case CmdBan:
		return c.ban(ctx, inv, member)
	case CmdAudience:
		return c.createAudience(ctx, inv, member)
	default:
		return nil, errf(ErrBadRequest, -1, nil, "command %q is not executed by Invoke", inv.Command)
	}
}

// authorize validates an invocation and returns it with the member its
// issuer is bound to.
func (c *Community) authorize(ctx context.Context, token []byte, proofs [][]byte) (*ucan.Invocation, string, error) {
	inv, err := c.validator.Validate(ctx, token, proofs...)
	if err != nil {
		// A banned member's grants are revoked: say so.
		if p, perr := ucan.ParseInvocation(token); perr == nil {
			if m, ok := c.memberOf(p.Issuer); ok && c.isBanned(m) {
				return nil, "", &Error{Kind: ErrBanned, Index: -1, Detail: m, Err: err}
			}
		}
		return nil, "", &Error{Kind: ErrUnauthorized, Index: -1, Err: err}
	}
	if inv.Subject != c.did {
		return nil, "", errf(ErrUnauthorized, -1, nil, "invocation subject %s is not this community", inv.Subject)
	}
	now := c.host.now()
	if inv.Expiration == nil || time.Unix(*inv.Expiration, 0).After(now.Add(c.host.limits.MaxInvocationTTL)) {
		return nil, "", errf(ErrUnauthorized, -1, nil, "invocation lifetime exceeds %s", c.host.limits.MaxInvocationTTL)
	}
	member, ok := c.memberOf(inv.Issuer)
	if !ok {
		return nil, "", errf(ErrNotMember, -1, nil, "%s is not bound to a member", inv.Issuer)
	}
	if c.isBanned(member) {
		return nil, "", errf(ErrBanned, -1, nil, "%s", member)
	}
	return inv, member, nil
}

// writeSpec is one write named by an invocation's arguments.
type writeSpec struct {
	action     repo.Action
	collection string
	rkey       string
	audience   string
	cid        cid.Cid
}

// The arguments of a write, as writeArgs holds them.
const (
	argAction = iota
	argCollection
	argRKey
	argAudience
	argCID
	numWriteArgs
)

// argIndex returns the index in writeArgs of a write's argument k (action
// only in a batch), or -1: a switch, not a map, since every key of every
// write is looked at.
func argIndex(k string, inBatch bool) int {
	switch k {
	case "collection":
		return argCollection
	case "rkey":
		return argRKey
	case "cid":
		return argCID
	case "audience":
		return argAudience
	case "action":
		if inBatch {
			return argAction
		}
	}
	return -1
}

// writeArgs are the values of one write's arguments, by argIndex.
type writeArgs struct {
	vals [numWriteArgs]any
	has  [numWriteArgs]bool
}

// gatherWrite reads the arguments of one write, m: a map[string]any, or a
// drisl.Map (how a validator with ucan.ValidatorOptions.OrderedArgs gives
// the writes of a batch), in one pass over its entries. An argument that
// is not a write's is refused (the first met).
func gatherWrite(m any, i int, inBatch bool) (writeArgs, error) {
	var a writeArgs
	set := func(k string, v any) error {
		j := argIndex(k, inBatch)
		if j < 0 {
			return errf(ErrBadRequest, i, nil, "unexpected argument %q", k)
		}
		a.vals[j], a.has[j] = v, true
		return nil
	}
	switch m := m.(type) {
	case map[string]any:
		for k, v := range m {
			if err := set(k, v); err != nil {
				return a, err
			}
		}
	case drisl.Map:
		for _, e := range m {
			if err := set(e.Key, e.Value); err != nil {
				return a, err
			}
		}
	default:
		return a, errf(ErrBadRequest, i, nil, "write is not a map")
	}
	return a, nil
}

// parseWrite reads one write's arguments, m (see gatherWrite): those of a
// single-write command (batch nil) or one of a batch's writes, which takes
// what batch shares. known is a collection already parsed as an NSID (the
// previous write's), or "".
func parseWrite(m any, action repo.Action, i int, batch *batchShared, known string) (writeSpec, error) {
	w := writeSpec{action: action}
	inBatch := batch != nil
	a, err := gatherWrite(m, i, inBatch)
	if err != nil {
		return w, err
	}
	str := func(j int, k string, required bool) (string, error) {
		if !a.has[j] {
			if required {
				return "", errf(ErrBadRequest, i, nil, "missing argument %q", k)
			}
			return "", nil
		}
		s, ok := a.vals[j].(string)
		if !ok {
			return "", errf(ErrBadRequest, i, nil, "argument %q is not a string", k)
		}
		return s, nil
	}
	shared := inBatch && batch.collection != ""
	if shared && (a.has[argCollection] || a.has[argAudience] || (batch.action != "" && a.has[argAction])) {
		return w, errf(ErrBadRequest, i, nil, "a write of a batch in the shared form names none of what the batch shares (collection, audience, action)")
	}
	if inBatch {
		if w.action = batch.action; w.action == "" {
			act, err := str(argAction, "action", true)
			if err != nil {
				return w, err
			}
			if w.action, err = parseAction(act, i); err != nil {
				return w, err
			}
		}
	}
	if shared {
		w.collection, w.audience = batch.collection, batch.audience
	} else if w.collection, err = str(argCollection, "collection", true); err != nil {
		return w, err
	}
	if w.collection != known {
		if _, err := syntax.ParseNSID(w.collection); err != nil {
			return w, errf(ErrBadRequest, i, err, "collection")
		}
	}
	if w.rkey, err = str(argRKey, "rkey", true); err != nil {
		return w, err
	}
	if !recordkey.Valid(w.rkey) {
		_, err := syntax.ParseRecordKey(w.rkey) // for its message
		return w, errf(ErrBadRequest, i, err, "rkey %q", w.rkey)
	}
	if !shared {
		if w.audience, err = str(argAudience, "audience", false); err != nil {
			return w, err
		}
	}
	v, has := a.vals[argCID], a.has[argCID]
	if w.action == repo.ActionDelete {
		if has {
			return w, errf(ErrBadRequest, i, nil, "a delete names no cid")
		}
		return w, nil
	}
	if !has {
		return w, errf(ErrBadRequest, i, nil, "missing argument \"cid\"")
	}
	switch cv := v.(type) {
	case cid.Cid:
		w.cid = cv
	case *cid.Cid:
		if cv != nil {
			w.cid = *cv
		}
	}
	if !w.cid.Defined() {
		return w, errf(ErrBadRequest, i, nil, "argument \"cid\" is not a link")
	}
	return w, nil
}

func parseWrites(inv *ucan.Invocation, max int) ([]writeSpec, error) {
	switch inv.Command {
	case CmdBatch:
		batch, err := parseBatchShared(inv)
		if err != nil {
			return nil, err
		}
		list, ok := inv.Args["writes"].([]any)
		if !ok || len(list) == 0 {
			return nil, errf(ErrBadRequest, -1, nil, "writes is not a non-empty list")
		}
		if len(list) > max {
			return nil, errf(ErrRecordTooLarge, -1, nil, "%d writes, limit %d", len(list), max)
		}
		out := make([]writeSpec, len(list))
		known := batch.collection
		for i, e := range list {
			w, err := parseWrite(e, "", i, &batch, known)
			if err != nil {
				return nil, err
			}
			out[i], known = w, w.collection
		}
		return out, nil
	default:
		action := repo.Action(strings.TrimPrefix(inv.Command, "/repo/"))
		w, err := parseWrite(inv.Args, action, -1, nil, "")
		if err != nil {
			return nil, err
		}
		return []writeSpec{w}, nil
	}
}

// batchShared is what a batch's writes share. A batch's arguments are
// {writes}, each write naming its action, collection, rkey, cid (not for a
// delete) and audience (if any); or, the shared form, {collection, writes,
// action?, audience?}, each write naming only its rkey, cid and, unless
// the batch names it, action: the collection and audience (and action),
// named once, are every write's, and a write that names one of them again
// is refused, so a policy on .collection, .audience or .action (a role's
// grant: community.Role) matches what every write does, once. A policy
// that tests only the writes inside .writes sees no collection or audience
// there: one written for the first form must test the top level too. The
// shared form halves a batch of chat messages' token.
type batchShared struct {
	collection, audience string      // "" in a batch of the first form
	action               repo.Action // "" if each write names its own
}

// parseBatchShared reads a batch's shared arguments (see batchShared). The
// collection is checked as an NSID here, once.
func parseBatchShared(inv *ucan.Invocation) (batchShared, error) {
	var b batchShared
	if err := onlyKeys(inv, "writes", "collection", "audience", "action"); err != nil {
		return b, err
	}
	var err error
	if b.collection, err = argString(inv, "collection", false); err != nil {
		return b, err
	}
	if b.collection == "" {
		if len(inv.Args) != 1 {
			return b, errf(ErrBadRequest, -1, nil, "a batch shares its action or audience only with its collection")
		}
		return b, nil
	}
	if _, err := syntax.ParseNSID(b.collection); err != nil {
		return b, errf(ErrBadRequest, -1, err, "collection")
	}
	if b.audience, err = argString(inv, "audience", false); err != nil {
		return b, err
	}
	act, err := argString(inv, "action", false)
	if err != nil {
		return b, err
	}
	if act != "" {
		b.action, err = parseAction(act, -1)
	}
	return b, err
}

// parseAction reads a batch write's action.
func parseAction(act string, i int) (repo.Action, error) {
	switch a := repo.Action(act); a {
	case repo.ActionCreate, repo.ActionUpdate, repo.ActionDelete:
		return a, nil
	}
	return "", errf(ErrBadRequest, i, nil, "action %q", act)
}

func (c *Community) write(ctx context.Context, inv *ucan.Invocation, member string, records [][]byte) (*Result, error) {
	ops, err := c.writeOps(ctx, inv, member, records)
	if err != nil {
		return nil, err
	}
	return c.submit(ctx, &request{ops: ops, member: member, proofs: inv.Proofs})
}

// writeOps checks a write invocation's arguments and records and returns
// the ops the writer commits: one per write, then the invocation record.
func (c *Community) writeOps(ctx context.Context, inv *ucan.Invocation, member string, records [][]byte) ([]op, error) {
	specs, err := parseWrites(inv, c.host.limits.MaxBatchWrites)
	if err != nil {
		return nil, err
	}
	ops := make([]op, len(specs), len(specs)+1)
	next := 0
	// A request writes one tree, so a path written twice is a repeated
	// path. While the paths ascend (a batch of TIDs), none can repeat; seen
	// is built only from the first path that does not.
	var seen map[string]bool
	paths := joinPaths(specs)
	// Invoke's copies of the records share one allocation: they are
	// checked and committed together, and the writer drops them together.
	// They are copies because the writer commits these bytes without
	// hashing them again (repo.Write.InsecureSkipRecordCheck), so they must
	// be the bytes checked here, whatever the caller does with its slices.
	arena, sums, ends := copyAndHash(records)
	var dec *drisl.RecordDecoder
	if len(records) > 0 {
		// The decoded strings may share the arena: nothing writes to it
		// once copyAndHash has filled it, and the decoded records are
		// dropped once checked.
		dec = drisl.DecOptions{NoCopyStrings: true}.NewRecordDecoder()
	}
	off := 0
	for i, w := range specs {
		if w.audience != specs[0].audience {
			// The invocation is stored in the tree it writes: one tree per
			// request, or a public copy would reveal the private writes.
			return nil, errf(ErrBadRequest, i, nil, "a request writes one tree: the public repo or one audience")
		}
		if strings.HasPrefix(w.collection, reservedPrefix) {
			return nil, errf(ErrReservedCollection, i, nil, "%s", w.collection)
		}
		path := paths[i]
		if seen == nil && i > 0 && path <= paths[i-1] {
			seen = make(map[string]bool, len(specs))
			for _, p := range paths[:i] {
				seen[p] = true
			}
		}
		if seen != nil {
			if seen[path] {
				return nil, errf(ErrBadRequest, i, nil, "path written twice")
			}
			seen[path] = true
		}
		if w.audience != "" {
			if _, err := c.treeFor(w.audience); err != nil {
				return nil, err
			}
		}
		o := op{action: w.action, collection: w.collection, rkey: w.rkey, audience: w.audience, cid: w.cid, p: path}
		if w.action != repo.ActionDelete {
			if next >= len(records) {
				return nil, errf(ErrBadRequest, i, nil, "record bytes missing")
			}
			end := ends[next]
			data := arena[off:end:end]
			off = end
			if err := c.checkRecord(ctx, dec, i, w, data, &sums[next]); err != nil {
				return nil, err
			}
			next++
			o.data = data
		}
		ops[i] = o
	}
	if next != len(records) {
		return nil, errf(ErrBadRequest, -1, nil, "%d record(s) beside the invocation that no write names", len(records)-next)
	}
	rb, iop, err := c.evidence(inv, member, specs[0].audience)
	if err != nil {
		return nil, err
	}
	for i := range ops {
		ops[i].receipt = rb
	}
	return append(ops, iop), nil
}

// joinPaths returns the paths (collection/rkey) of specs, cut from one
// string: one allocation for a request's paths, which live as long as its
// ops.
func joinPaths(specs []writeSpec) []string {
	n := 0
	for _, w := range specs {
		n += len(w.collection) + 1 + len(w.rkey)
	}
	var b strings.Builder
	b.Grow(n)
	for _, w := range specs {
		b.WriteString(w.collection)
		b.WriteByte('/')
		b.WriteString(w.rkey)
	}
	all := b.String()
	paths := make([]string, len(specs))
	off := 0
	for i, w := range specs {
		end := off + len(w.collection) + 1 + len(w.rkey)
		paths[i] = all[off:end]
		off = end
	}
	return paths
}

// MinNonceBytes is the least random nonce a private record must carry.
const MinNonceBytes = 16

// receiptBlock is a receipt as stored: its DRISL bytes and their CID.
type receiptBlock struct {
	data []byte
	cid  cid.Cid
	raw  any // drisl.Raw(data), boxed once for all the writes that share it
}

// evidence returns what a request records of the invocation that asked for
// it: the receipt each of its receipted ops carries (the same bytes for all,
// so one block however many records the request writes) and the op that
// stores the invocation token once, in the tree of aud (the public repo, or
// the audience's private tree, so that a private write's invocation, which
// names its path and CID, never reaches the public repo).
func (c *Community) evidence(inv *ucan.Invocation, author, aud string) (*receiptBlock, op, error) {
	now := timestamp(c.host.now())
	data, rc, err := drisl.MarshalCID(&Receipt{Type: NSIDReceipt, Invocation: inv.CID(), Author: author, CreatedAt: now})
	if err != nil {
		return nil, op{}, err
	}
	idata, icid, err := drisl.MarshalCID(&invocationRecord{Type: NSIDInvocation, Token: inv.Bytes(), CreatedAt: now})
	if err != nil {
		return nil, op{}, err
	}
	iop := op{action: repo.ActionCreate, collection: NSIDInvocation, rkey: InvocationKey(inv.CID()), audience: aud,
		data: idata, cid: icid}
	return &receiptBlock{data: data, cid: rc, raw: drisl.Raw(data)}, iop, nil
}

func argString(inv *ucan.Invocation, k string, required bool) (string, error) {
	v, ok := inv.Args[k]
	if !ok {
		if required {
			return "", errf(ErrBadRequest, -1, nil, "missing argument %q", k)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", errf(ErrBadRequest, -1, nil, "argument %q is not a string", k)
	}
	return s, nil
}

func onlyKeys(inv *ucan.Invocation, keys ...string) error {
	for k := range inv.Args {
		found := false
		for _, want := range keys {
			if k == want {
				found = true
			}
		}
		if !found {
			return errf(ErrBadRequest, -1, nil, "unexpected argument %q", k)
		}
	}
	return nil
}
