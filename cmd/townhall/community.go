package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// The community command hosts communities in the home directory (see
// home.go) and acts in them as a member: every act is an invocation signed
// with a local session key file (made with 'townhall key gen').

var communitySubs = []string{"create", "join", "grant", "revoke", "ban", "write", "list", "get", "info",
	"did-doc", "audit-log", "export", "import", "prove", "bundle", "audience", "read"}

// communityFlags are the flags of every community subcommand.
type communityFlags struct {
	fs         *flag.FlagSet
	home       *string
	did        *string
	asJSON     *bool
	key        *string
	account    *string
	serviceJWT *string
	invite     *string
	name       *string
	recovery   *string
	roles      stringList
	joinRole   *string
	to         *string
	member     *string
	role       *string
	session    *string
	delegation *string
	reason     *string
	collection *string
	rkey       *string
	update     *bool
	del        *bool
	limit      *int
	out        *string
	auditLog   *string
	quiet      *bool
	progress   *bool
	endpoint   *string
	audience   *string
	readers    *string
	audCARs    stringList
	commit     *string
}

func newCommunityFlags(sub string) *communityFlags {
	fs := newFlags("community " + sub)
	f := &communityFlags{fs: fs}
	f.home = fs.String("home", "", "home directory (default $TOWNHALL_HOME or ~/.townhall)")
	f.did = fs.String("community", "", "the community's DID (default: the only one in the home)")
	f.asJSON = fs.Bool("json", false, "print JSON")
	f.key = fs.String("key", "", "the session key file that signs (townhall key gen)")
	f.account = fs.String("account", "", "create, join: the local account (townhall account create)")
	f.serviceJWT = fs.String("service-auth", "", "create, join: a service-auth JWT (default: one from the local account's PDS key)")
	f.invite = fs.String("invite", "", "join: an invitation file (townhall community grant)")
	f.name = fs.String("name", "", "create: the community's name")
	f.recovery = fs.String("recovery", "", "create: recovery key (key file or did:key); import: the recovery key file")
	fs.Var(&f.roles, "role-def", "create: a role NAME=COLL[,COLL...][@AUDIENCE,...] or NAME=moderator (repeat)")
	f.joinRole = fs.String("join-role", "", "create: the role anyone may join with, without an invitation")
	f.to = fs.String("to", "", "grant: the invitee's session key (did:key)")
	f.member = fs.String("member", "", "grant, ban: the member's DID")
	f.role = fs.String("role", "", "grant: the role to grant")
	f.session = fs.String("session", "", "revoke: revoke every grant of this session key (did:key)")
	f.delegation = fs.String("delegation", "", "revoke: the CID of one delegation")
	f.reason = fs.String("reason", "", "revoke, ban: the reason recorded")
	f.collection = fs.String("collection", "", "write, list, get, prove, bundle: the collection NSID")
	f.rkey = fs.String("rkey", "", "write, get, prove, bundle: the record key (write: default a new TID)")
	f.update = fs.Bool("update", false, "write: update the record instead of creating it")
	f.del = fs.Bool("delete", false, "write: delete the record")
	f.limit = fs.Int("limit", 50, "list: records per page (at most 1000)")
	f.out = fs.String("o", "", "export, grant, prove, bundle: the output file (required)")
	f.auditLog = fs.String("audit-log", "", "export: also write the DID's audit log here; import: the audit log to load")
	f.quiet = fs.Bool("q", false, "export, import: no progress on stderr")
	f.progress = fs.Bool("progress", false, "export, import: show progress on stderr even when it is not a terminal")
	f.audience = fs.String("audience", "", "audience, read: the private audience; write: write into it")
	f.readers = fs.String("readers", "", "audience: the roles that may read it (comma-separated)")
	fs.Var(&f.audCARs, "audience-car", "import: an audience backup (community read -o) to carry over (repeat)")
	f.commit = fs.String("commit", "", "import: the commit CID you trust (seen before the old host turned hostile): the CAR's root must be it")
	f.endpoint = fs.String("endpoint", "", "the host's URL, when the home is new (default https://host.townhall.localhost)")
	return f
}

// requestFile is a community.Request in a file (an invitation).
type requestFile struct {
	Invocation []byte   `json:"invocation"`
	Proofs     [][]byte `json:"proofs,omitempty"`
	Records    [][]byte `json:"records,omitempty"`
}

func runCommunity(e *env, args []string) error {
	sub, args, err := subcommand("community", args, communitySubs...)
	if err != nil {
		return err
	}
	f := newCommunityFlags(sub)
	if err := parseFlags(f.fs, args); err != nil {
		return err
	}
	if sub != "import" && f.fs.NArg() != 0 {
		return usageErr("community %s takes flags only, not %q", sub, f.fs.Arg(0))
	}
	dir, err := homeDir(*f.home)
	if err != nil {
		return err
	}
	h, err := openHome(e.ctx, dir, *f.endpoint)
	if err != nil {
		return err
	}
	defer h.close()
	switch sub {
	case "create":
		return communityCreate(e, h, f)
	case "join":
		return communityJoin(e, h, f)
	case "import":
		return communityImport(e, h, f)
	}
	c, err := h.open(e.ctx, *f.did)
	if err != nil {
		return err
	}
	switch sub {
	case "grant":
		return communityGrant(e, c, f)
	case "revoke", "ban":
		return communityModerate(e, c, f, sub)
	case "write":
		return communityWrite(e, c, f)
	case "list":
		return communityList(e, c, f)
	case "get":
		return communityGet(e, c, f)
	case "info":
		return communityInfo(e, h, c, f)
	case "did-doc":
		doc, err := h.plc.Resolve(e.ctx, c.DID())
		if err != nil {
			return invalidErr("cannot resolve %s in the local directory: %v", c.DID(), err)
		}
		return writeJSON(e, doc)
	case "audit-log":
		log, err := h.plc.AuditLog(e.ctx, c.DID())
		if err != nil {
			return invalidErr("cannot read the audit log of %s: %v", c.DID(), err)
		}
		return writeJSON(e, log)
	case "export":
		return communityExport(e, h, c, f)
	case "prove":
		return communityProve(e, c, f)
	case "audience":
		return communityAudience(e, c, f)
	case "read":
		return communityRead(e, c, f)
	default: // bundle
		return communityBundle(e, c, f)
	}
}

// session opens the member's session for --key in c.
func session(e *env, c *community.Community, keyFile string) (*community.Session, error) {
	if keyFile == "" {
		return nil, usageErr("this command signs an invocation: pass --key SESSION.key (townhall key gen -o SESSION.key)")
	}
	priv, err := readKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	signer, err := ucan.NewAtcryptoSigner(priv)
	if err != nil {
		return nil, invalidErr("%s cannot sign UCANs: %v", keyFile, err)
	}
	m, err := c.Membership(e.ctx, signer.DID())
	if err == nil && len(m.Grants) == 0 && m.Member != "" {
		if _, _, berr := c.GetRecord(e.ctx, community.NSIDBan, m.Member); berr == nil {
			return nil, invalidErr("member %s is banned from %s: their session keys hold no grant", m.Member, c.DID())
		}
	}
	if err != nil || len(m.Grants) == 0 {
		return nil, invalidErr("the key in %s (%s) holds no grant in %s: join first, or use the member's own key", keyFile, signer.DID(), c.DID())
	}
	s, err := community.NewSession(m, signer)
	if err != nil {
		return nil, invalidErr("%v", err)
	}
	return s, nil
}

// joinRequest builds a join request: a service-auth JWT (given, or from the
// local account's PDS key) and a join proof signed by the session key.
func joinRequest(e *env, h *home, f *communityFlags, aud, communityDID string) (community.JoinRequest, *ucan.KeySigner, error) {
	var jr community.JoinRequest
	if *f.key == "" || *f.account == "" {
		return jr, nil, usageErr("pass --account NAME (the member) and --key SESSION.key (the member's new session key)")
	}
	a, pdsKey, err := h.account(*f.account)
	if err != nil {
		return jr, nil, err
	}
	priv, err := readKeyFile(*f.key)
	if err != nil {
		return jr, nil, err
	}
	signer, err := ucan.NewAtcryptoSigner(priv)
	if err != nil {
		return jr, nil, invalidErr("%s cannot sign UCANs: %v", *f.key, err)
	}
	jwt := *f.serviceJWT
	if jwt == "" {
		lxm := syntax.NSID(community.LXMJoin)
		if communityDID == "" {
			lxm = community.LXMCreate
		}
		if jwt, err = auth.SignServiceAuth(syntax.DID(a.DID), aud, time.Minute, &lxm, pdsKey); err != nil {
			return jr, nil, invalidErr("the local PDS cannot sign a token: %v", err)
		}
	}
	proof, err := community.NewJoinProof(signer, community.JoinProofFields{Community: communityDID, Member: a.DID,
		ServiceAuth: jwt, Expiration: time.Now().Add(time.Minute)})
	if err != nil {
		return jr, nil, invalidErr("cannot sign the join proof: %v", err)
	}
	return community.JoinRequest{ServiceAuth: jwt, Proof: proof}, signer, nil
}

func parseRole(s string) (community.Role, error) {
	name, spec, ok := strings.Cut(s, "=")
	if !ok || name == "" || spec == "" {
		return community.Role{}, usageErr("--role-def %q: want NAME=COLL[,COLL...][@AUDIENCE,...] or NAME=moderator", s)
	}
	if spec == "moderator" {
		return community.Role{Name: name, Moderator: true}, nil
	}
	colls, auds, _ := strings.Cut(spec, "@")
	r := community.Role{Name: name, Collections: strings.Split(colls, ",")}
	if auds != "" {
		r.Audiences = strings.Split(auds, ",")
	}
	return r, nil
}

// defaultRoles are a community's roles when create names none.
var defaultRoles = []community.Role{
	{Name: "member", Collections: []string{"dev.townhall.chat.*"}},
	{Name: "moderator", Moderator: true},
}

func communityCreate(e *env, h *home, f *communityFlags) error {
	if *f.name == "" || *f.recovery == "" {
		return usageErr("community create needs --name, --recovery (a key file or did:key: the founders' recovery key), --account and --key")
	}
	recovery := *f.recovery
	if !strings.HasPrefix(recovery, "did:key:") {
		priv, err := readKeyFile(recovery)
		if err != nil {
			return err
		}
		pub, err := priv.PublicKey()
		if err != nil {
			return invalidErr("%v", err)
		}
		recovery = pub.DIDKey()
	} else if _, err := parsePublicKey(recovery); err != nil {
		return usageErr("the --recovery value is not a did:key (the value is not echoed: it may be a key): %v", err)
	}
	jr, signer, err := joinRequest(e, h, f, h.cfg.ServiceDID, "")
	if err != nil {
		return err
	}
	roles := defaultRoles
	if len(f.roles) > 0 {
		roles = nil
		for _, s := range f.roles {
			r, err := parseRole(s)
			if err != nil {
				return err
			}
			roles = append(roles, r)
		}
	}
	c, err := h.host.Create(e.ctx, community.CreateOptions{Name: *f.name, RecoveryKeys: []string{recovery},
		Founders: []community.JoinRequest{jr}, Roles: roles, JoinRole: *f.joinRole})
	if err != nil {
		return invalidErr("cannot create the community: %v", err)
	}
	if err := h.addCommunity(c.DID()); err != nil {
		return err
	}
	if *f.asJSON {
		return writeJSON(e, map[string]any{"did": c.DID(), "founder": signer.DID(), "rev": c.Repo().Head().Rev})
	}
	printf(e, "%s\n", c.DID())
	return nil
}

func communityJoin(e *env, h *home, f *communityFlags) error {
	c, err := h.open(e.ctx, *f.did)
	if err != nil {
		return err
	}
	jr, _, err := joinRequest(e, h, f, c.DID(), c.DID())
	if err != nil {
		return err
	}
	if *f.invite != "" {
		b, err := readInput(e, *f.invite)
		if err != nil {
			return err
		}
		var rf requestFile
		if err := json.Unmarshal(b, &rf); err != nil || len(rf.Invocation) == 0 {
			return invalidErr("%s is not an invitation file (townhall community grant writes one)", *f.invite)
		}
		jr.Invite = &community.Request{Invocation: rf.Invocation, Proofs: rf.Proofs, Records: rf.Records}
	}
	m, err := c.Join(e.ctx, jr)
	if err != nil {
		return invalidErr("join refused: %v", err)
	}
	return printMembership(e, m, *f.asJSON)
}

func printMembership(e *env, m *community.Membership, asJSON bool) error {
	type grant struct {
		Command    string `json:"command"`
		Delegation string `json:"delegation"`
		Chain      int    `json:"chain"`
	}
	out := struct {
		Community  string  `json:"community"`
		Member     string  `json:"member"`
		SessionKey string  `json:"sessionKey"`
		Grants     []grant `json:"grants"`
	}{m.Community, m.Member, m.SessionKey, []grant{}}
	for _, g := range m.Grants {
		if len(g.Chain) == 0 {
			continue
		}
		out.Grants = append(out.Grants, grant{g.Command, drisl.SumCID(drisl.CodecDagCBOR, g.Chain[len(g.Chain)-1]).String(), len(g.Chain)})
	}
	if asJSON {
		return writeJSON(e, out)
	}
	printf(e, "member %s joined %s with session key %s\n", out.Member, out.Community, out.SessionKey)
	for _, g := range out.Grants {
		printf(e, "  grant %-10s %s (chain of %d)\n", g.Command, g.Delegation, g.Chain)
	}
	return nil
}

func communityGrant(e *env, c *community.Community, f *communityFlags) error {
	if *f.to == "" || *f.member == "" || *f.role == "" || *f.out == "" {
		return usageErr("community grant needs --key MOD.key --to did:key:SESSION --member DID --role NAME -o INVITE.json")
	}
	if _, err := parsePublicKey(*f.to); err != nil || !strings.HasPrefix(*f.to, "did:key:") {
		return usageErr("the --to value is not a did:key (the value is not echoed: it may be a key)")
	}
	role, err := findRole(e, c, *f.role)
	if err != nil {
		return err
	}
	s, err := session(e, c, *f.key)
	if err != nil {
		return err
	}
	req, err := s.Invite(*f.to, *f.member, role, time.Time{})
	if err != nil {
		return invalidErr("cannot sign the invitation: %v", err)
	}
	b, err := json.Marshal(requestFile{req.Invocation, req.Proofs, req.Records})
	if err != nil {
		return invalidErr("%v", err)
	}
	if err := writeNewFile(*f.out, b, privateFile); err != nil {
		return err
	}
	if *f.asJSON {
		return writeJSON(e, map[string]any{"file": *f.out, "member": *f.member, "sessionKey": *f.to, "role": role.Name,
			"invocation": drisl.SumCID(drisl.CodecDagCBOR, req.Invocation).String()})
	}
	printf(e, "invitation for %s (%s, role %s) written to %s; valid for %s: the member joins with --invite\n",
		*f.member, *f.to, role.Name, *f.out, community.DefaultInvocationTTL)
	return nil
}

// findRole reads a role record of the community.
func findRole(e *env, c *community.Community, name string) (community.Role, error) {
	_, b, err := c.GetRecord(e.ctx, community.NSIDRole, name)
	if err != nil {
		return community.Role{}, invalidErr("no role %q in %s: %v", name, c.DID(), err)
	}
	var rec struct {
		Name        string   `cbor:"name"`
		Collections []string `cbor:"collections"`
		Audiences   []string `cbor:"audiences"`
		Moderator   bool     `cbor:"moderator"`
	}
	if err := drisl.Unmarshal(b, &rec); err != nil {
		return community.Role{}, invalidErr("role record %q: %v", name, err)
	}
	return community.Role{Name: name, Collections: rec.Collections, Audiences: rec.Audiences, Moderator: rec.Moderator}, nil
}

func communityModerate(e *env, c *community.Community, f *communityFlags, sub string) error {
	s, err := session(e, c, *f.key)
	if err != nil {
		return err
	}
	var reqs []*community.Request
	switch {
	case sub == "ban":
		if *f.member == "" {
			return usageErr("community ban needs --member DID")
		}
		req, err := s.Ban(*f.member, *f.reason)
		if err != nil {
			return invalidErr("cannot sign the ban: %v", err)
		}
		reqs = append(reqs, req)
	case *f.delegation != "":
		d, err := cid.Decode(*f.delegation)
		if err != nil {
			return usageErr("--delegation %q is not a CID", *f.delegation)
		}
		req, err := s.Revoke(d, *f.reason)
		if err != nil {
			return invalidErr("cannot sign the revocation: %v", err)
		}
		reqs = append(reqs, req)
	case *f.session != "":
		m, err := c.Membership(e.ctx, *f.session)
		if err != nil || len(m.Grants) == 0 {
			return invalidErr("session key %s holds no grant in %s", *f.session, c.DID())
		}
		for _, g := range m.Grants {
			if len(g.Chain) == 0 {
				continue
			}
			req, err := s.Revoke(drisl.SumCID(drisl.CodecDagCBOR, g.Chain[len(g.Chain)-1]), *f.reason)
			if err != nil {
				return invalidErr("cannot sign the revocation: %v", err)
			}
			reqs = append(reqs, req)
		}
	default:
		return usageErr("community revoke needs --session did:key:... or --delegation CID")
	}
	for _, req := range reqs {
		res, err := c.Invoke(e.ctx, req)
		if err != nil {
			return invalidErr("%s refused: %v", sub, err)
		}
		if *f.asJSON {
			if err := writeJSON(e, resultJSON(res)); err != nil {
				return err
			}
			continue
		}
		printf(e, "%s recorded: %s (commit %s, rev %s)\n", sub, strings.Join(res.Paths, ", "), res.Commit, res.Rev)
	}
	return nil
}

func resultJSON(res *community.Result) map[string]any {
	cids := make([]string, len(res.CIDs))
	for i, c := range res.CIDs {
		if c.Defined() {
			cids[i] = c.String()
		}
	}
	return map[string]any{"commit": res.Commit.String(), "rev": res.Rev, "paths": res.Paths, "cids": cids}
}

func communityWrite(e *env, c *community.Community, f *communityFlags) error {
	if *f.collection == "" {
		return usageErr("community write needs --collection NSID, --key SESSION.key and a record (JSON file or '-'): see 'townhall help'")
	}
	if _, err := syntax.ParseNSID(*f.collection); err != nil {
		return usageErr("--collection %q is not an NSID", *f.collection)
	}
	s, err := session(e, c, *f.key)
	if err != nil {
		return err
	}
	w := community.Write{Action: repo.ActionCreate, Collection: *f.collection, RKey: *f.rkey, Audience: *f.audience}
	switch {
	case *f.del && *f.update:
		return usageErr("give --update or --delete, not both")
	case *f.del:
		if w.RKey == "" {
			return usageErr("--delete needs --rkey")
		}
		w.Action = repo.ActionDelete
	default:
		if *f.update {
			w.Action = repo.ActionUpdate
		}
		b, err := readInput(e, "-")
		if err != nil {
			return err
		}
		rec, err := drisl.UnmarshalJSON(b)
		if err != nil {
			return invalidErr("the record is not atproto JSON: %v", err)
		}
		if m, ok := rec.(map[string]any); ok && w.Audience != "" && m["nonce"] == nil {
			m["nonce"] = community.NewNonce() // private records carry a random nonce
		}
		w.Record = rec
		if w.RKey == "" {
			w.RKey = syntax.NewTIDNow(0).String()
		}
	}
	req, err := s.Write(w)
	if err != nil {
		return invalidErr("cannot sign the write: %v", err)
	}
	res, err := c.Invoke(e.ctx, req)
	if err != nil {
		return invalidErr("write refused: %v", err)
	}
	if *f.asJSON {
		return writeJSON(e, resultJSON(res))
	}
	for i, p := range res.Paths {
		if res.CIDs[i].Defined() {
			printf(e, "%s %s\n", p, res.CIDs[i])
		} else {
			printf(e, "%s deleted\n", p)
		}
	}
	printf(e, "commit %s rev %s\n", res.Commit, res.Rev)
	return nil
}

// valueJSON converts a record's DRISL bytes to atproto JSON.
func valueJSON(b []byte) (json.RawMessage, error) {
	var v any
	if err := drisl.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	out, err := drisl.MarshalJSON(v)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(out), nil
}

func communityList(e *env, c *community.Community, f *communityFlags) error {
	if *f.collection == "" {
		return usageErr("community list needs --collection NSID")
	}
	recs, next, err := c.ListRecords(e.ctx, *f.collection, repo.ListOptions{Limit: *f.limit})
	if err != nil {
		return invalidErr("cannot list %s: %v", *f.collection, err)
	}
	if *f.asJSON {
		out := map[string]any{"records": []any{}}
		list := []any{}
		for _, r := range recs {
			v, err := valueJSON(r.Value)
			if err != nil {
				return invalidErr("record %s/%s: %v", r.Collection, r.RKey, err)
			}
			list = append(list, map[string]any{"uri": "at://" + c.DID() + "/" + r.Collection + "/" + r.RKey, "cid": r.CID.String(), "value": v})
		}
		out["records"] = list
		if next != "" {
			out["cursor"] = next
		}
		return writeJSON(e, out)
	}
	for _, r := range recs {
		printf(e, "%s/%s %s\n", r.Collection, r.RKey, r.CID)
	}
	return nil
}

func communityGet(e *env, c *community.Community, f *communityFlags) error {
	if *f.collection == "" || *f.rkey == "" {
		return usageErr("community get needs --collection NSID --rkey KEY")
	}
	id, b, err := c.GetRecord(e.ctx, *f.collection, *f.rkey)
	if err != nil {
		return invalidErr("no record %s/%s: %v", *f.collection, *f.rkey, err)
	}
	v, err := valueJSON(b)
	if err != nil {
		return invalidErr("record %s/%s: %v", *f.collection, *f.rkey, err)
	}
	uri := "at://" + c.DID() + "/" + *f.collection + "/" + *f.rkey
	if *f.asJSON {
		return writeJSON(e, map[string]any{"uri": uri, "cid": id.String(), "value": v})
	}
	printf(e, "%s %s\n", uri, id)
	return writeJSON(e, v)
}

func communityInfo(e *env, h *home, c *community.Community, f *communityFlags) error {
	data, err := h.plc.Data(e.ctx, c.DID())
	if err != nil {
		return invalidErr("cannot resolve %s: %v", c.DID(), err)
	}
	head := c.Repo().Head()
	count := func(coll string) int {
		n, cursor := 0, ""
		for {
			recs, next, err := c.ListRecords(e.ctx, coll, repo.ListOptions{Limit: 1000, Cursor: cursor})
			if err != nil || len(recs) == 0 {
				return n
			}
			n += len(recs)
			if next == "" {
				return n
			}
			cursor = next
		}
	}
	profile := map[string]any{}
	if _, b, err := c.GetRecord(e.ctx, community.NSIDProfile, "self"); err == nil {
		if v, err := valueJSON(b); err == nil {
			json.Unmarshal(v, &profile)
		}
	}
	out := map[string]any{
		"did": c.DID(), "endpoint": data.PDSEndpoint(), "signingKey": data.VerificationMethods["atproto"],
		"rotationKeys": data.RotationKeys, "commit": head.Commit.String(), "rev": head.Rev,
		"members": count(community.NSIDBinding), "grants": count(community.NSIDGrant),
		"revocations": count(community.NSIDRevocation), "bans": count(community.NSIDBan),
		"audiences": c.Audiences(), "profile": profile,
	}
	if *f.asJSON {
		return writeJSON(e, out)
	}
	printf(e, "community %s (%v)\n", c.DID(), profile["name"])
	printf(e, "endpoint  %s\nsigning   %s\nrotation  %s\n", out["endpoint"], out["signingKey"], strings.Join(data.RotationKeys, ", "))
	printf(e, "head      %s rev %s\n", out["commit"], out["rev"])
	printf(e, "bindings  %d, grants %d, revocations %d, bans %d, audiences %v\n", out["members"], out["grants"], out["revocations"], out["bans"], c.Audiences())
	return nil
}

func communityExport(e *env, h *home, c *community.Community, f *communityFlags) error {
	if *f.out == "" {
		return usageErr("community export needs -o FILE.car")
	}
	file, err := os.OpenFile(*f.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, publicFile)
	if err != nil {
		return ioErr("cannot create %s: %v", *f.out, unwrapPathErr(err))
	}
	p := newProgress(e, "exported", *f.quiet, *f.progress)
	err = c.Export(e.ctx, io.MultiWriter(file, p))
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	p.done(err)
	if err != nil {
		os.Remove(*f.out)
		return ioErr("cannot export: %v", err)
	}
	if *f.auditLog != "" {
		log, err := h.plc.AuditLog(e.ctx, c.DID())
		if err != nil {
			return invalidErr("cannot read the audit log: %v", err)
		}
		b, _ := json.Marshal(log)
		if err := writeNewFile(*f.auditLog, b, publicFile); err != nil {
			return err
		}
	}
	head := c.Repo().Head()
	if *f.asJSON {
		return writeJSON(e, map[string]any{"file": *f.out, "bytes": p.n, "commit": head.Commit.String(), "rev": head.Rev})
	}
	printf(e, "%s: %s, commit %s rev %s\n", *f.out, humanBytes(p.n), head.Commit, head.Rev)
	return nil
}

// communityImport moves a community into this home's host from its CAR
// (Host.Migrate): the DID's audit log is loaded into the local directory
// first (where a real host would read plc.directory), then the recovery
// key signs the operation that points the DID here.
func communityImport(e *env, h *home, f *communityFlags) error {
	if f.fs.NArg() != 1 || *f.recovery == "" || *f.auditLog == "" {
		return usageErr("community import needs a CAR file, --audit-log FILE (community export --audit-log) and --recovery KEYFILE")
	}
	var pin cid.Cid
	if *f.commit != "" {
		var err error
		if pin, err = cid.Decode(*f.commit); err != nil {
			return usageErr("--commit %q is not a CID: %v", *f.commit, err)
		}
	}
	rec, err := readKeyFile(*f.recovery)
	if err != nil {
		return err
	}
	b, err := readInput(e, *f.auditLog)
	if err != nil {
		return err
	}
	var log []plc.LogEntry
	if err := json.Unmarshal(b, &log); err != nil || len(log) == 0 {
		return invalidErr("%s is not a did:plc audit log (JSON array of entries)", *f.auditLog)
	}
	did := log[0].DID
	if _, err := h.plc.Data(e.ctx, did); err != nil {
		if err := h.plcDir.Import(e.ctx, log); err != nil {
			return invalidErr("the audit log does not validate: %v", err)
		}
	}
	car, err := readInput(e, f.fs.Arg(0))
	if err != nil {
		return err
	}
	p := newProgress(e, "imported", *f.quiet, *f.progress)
	var audiences []io.Reader
	for _, name := range f.audCARs {
		b, err := readInput(e, name)
		if err != nil {
			return err
		}
		audiences = append(audiences, bytes.NewReader(b))
	}
	c, err := h.host.Migrate(e.ctx, did, community.MigrateOptions{Repo: &progressReader{bytes.NewReader(car), p},
		Audiences: audiences, RecoveryKey: rec, Commit: pin})
	p.done(err)
	if err != nil {
		return invalidErr("import refused: %v", err)
	}
	if err := h.addCommunity(did); err != nil {
		return err
	}
	head := c.Repo().Head()
	if *f.asJSON {
		return writeJSON(e, map[string]any{"did": did, "commit": head.Commit.String(), "rev": head.Rev, "endpoint": h.cfg.Endpoint})
	}
	printf(e, "%s now hosted here (%s), rev %s\n", did, h.cfg.Endpoint, head.Rev)
	return nil
}

func communityProve(e *env, c *community.Community, f *communityFlags) error {
	if *f.collection == "" || *f.rkey == "" || *f.out == "" {
		return usageErr("community prove needs --collection NSID --rkey KEY -o PROOF.car")
	}
	var buf bytes.Buffer
	p, err := c.Repo().ProveRecord(e.ctx, &buf, *f.collection, *f.rkey)
	if err != nil {
		return invalidErr("cannot prove %s/%s: %v", *f.collection, *f.rkey, err)
	}
	if err := writeNewFile(*f.out, buf.Bytes(), privateFile); err != nil {
		return err
	}
	// A missing record's proof proves its absence (as getRecord's does).
	exists := p.Record.Defined()
	if *f.asJSON {
		return writeJSON(e, map[string]any{"file": *f.out, "bytes": buf.Len(), "commit": p.Head.Commit.String(), "exists": exists})
	}
	what := "record proof of"
	if !exists {
		what = "proof of the absence of"
	}
	printf(e, "%s %s/%s written to %s (%s)\n", what, *f.collection, *f.rkey, *f.out, humanBytes(int64(buf.Len())))
	return nil
}

func communityBundle(e *env, c *community.Community, f *communityFlags) error {
	if *f.collection == "" || *f.rkey == "" || *f.out == "" {
		return usageErr("community bundle needs --collection NSID --rkey KEY -o BUNDLE.drisl")
	}
	b, err := c.Bundle(e.ctx, *f.collection, *f.rkey)
	if err != nil {
		return invalidErr("cannot build the bundle of %s/%s: %v", *f.collection, *f.rkey, err)
	}
	data, err := b.Marshal()
	if err != nil {
		return invalidErr("%v", err)
	}
	if err := writeNewFile(*f.out, data, privateFile); err != nil {
		return err
	}
	if *f.asJSON {
		return writeJSON(e, map[string]any{"file": *f.out, "bytes": len(data), "delegations": len(b.Delegations), "nodes": len(b.Nodes)})
	}
	printf(e, "authorship bundle of %s/%s written to %s (%s)\n", *f.collection, *f.rkey, *f.out, humanBytes(int64(len(data))))
	return nil
}
