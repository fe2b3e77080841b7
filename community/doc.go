// Package community hosts atproto community repos: one repository under
// the community's own did:plc, written by many members under UCAN
// delegations rooted in the community, with verifiable authorship, private
// audiences, moderation and host-independent migration. It joins packages
// plc (identity), repo (storage, commits, CAR, sync), ucan (authorisation)
// and lexicon (record schemas).
//
// Specs: https://atproto.com/specs/repository, /specs/sync, /specs/did,
// https://github.com/ucan-wg/spec (delegation, invocation),
// https://web.plc.directory/spec.
//
// # Identity and authority
//
// Host.Create submits a did:plc genesis operation (rotation keys: the
// founders' recovery keys, then the host's rotation key; verification method
// atproto: the host's signing key; service atproto_pds: the host's endpoint),
// creates the repository, and writes one commit holding the profile
// (dev.townhall.community.profile/self), the roles, each founder's binding
// and a root delegation from the community to each founder's session key
// (command "/", no policy), recorded as a grant.
//
// The community's DID is the UCAN root. The validator resolves it to the
// community's current atproto signing key (the host's key, replaced on
// migration); session keys are did:key; other DIDs go to HostOptions.Keys.
// The authorisation state is records in the repo, so it is signed, auditable
// and moves with the repo: roles (.role, key = role name), grants (.grant,
// key = token CID; the DRISL delegation token), bindings (.binding, key =
// session key), revocations (.revocation, key = revoked CID), bans (.ban, key
// = member DID), receipts (.receipt) and audience anchors (.audience). The
// collections under dev.townhall.community are reserved: /repo writes to
// them are refused with ErrReservedCollection; only the acts below write
// them. On Host.Open the state is rebuilt from these records.
//
// # Joining
//
// A member logs in with their atproto account: their PDS issues a
// service-auth JWT (iss: member DID, aud: community DID, lxm:
// dev.townhall.community.join), verified with indigo's atproto/auth against
// HostOptions.Identity. The client's new session key signs a
// /community/join proof naming the member and the JWT (NewJoinProof), so
// the binding is asked for by the holder of both. The grants come from a
// moderator's invitation (Session.Invite: delegations from the moderator's
// session key to the new key, named by a /community/invite invocation the
// moderator's chain must authorise) or, if the community has a join role
// (CreateOptions.JoinRole), from the community itself. Join records the
// binding and the grants and returns the Membership (grants with their
// chains, root first) the client's Session invokes with. Banned members
// cannot join.
//
// Roles: a member role yields a "/repo" delegation whose policy is
// ["or", [P, ["all", ".writes", P]]] with P = (collection == or like one of
// the role's collections) and (audience absent or one of the role's
// audiences), and, if it names audiences, an "/audience/read" delegation. A
// moderator role yields "/": every command.
//
// # Writes
//
// Every act is a Request: a UCAN invocation, the delegations it names
// (optional: all grants are recorded), and the record bytes beside it.
// Community.Invoke executes /repo/create, /repo/update, /repo/delete (args
// {collection, rkey, cid, audience?}), /repo/batch (args {writes: [{action,
// ...}]}) and the moderation acts. The checks, in order: sizes
// (Limits.MaxRecordBytes per record, MaxBatchWrites per request); the
// invocation and its chain with package ucan (signatures, time bounds,
// revocation, attenuation, policies, replay); its subject and lifetime
// (exp required, at most Limits.MaxInvocationTTL ahead); the invoker bound to
// a member who is not banned; the arguments (exactly the keys above);
// reserved collections; per record: the bytes hash to the CID the
// invocation names, strict DRISL, the atproto data model, the lexicon
// (package lexicon; unknown collections are refused), a nonce for private
// records. Then, in the writer: revocations and bans again (they may have
// landed since), existence (create of an existing record, update/delete of
// a missing one), and ownership: an update or delete of a record whose
// receipt names another author is refused with ErrNotOwner; moderators use
// /community/delete. A refused request writes nothing.
//
// One writer goroutine per community executes accepted requests with group
// commit: it drains the queue (up to Limits.MaxGroupCommit requests), admits
// each, and turns the batch into ONE signed commit; requests touching a path
// an earlier request of the batch touches wait for the next round; if the
// commit fails, the requests are committed one by one so one bad request
// cannot sink the others. Every caller gets its own result or error.
//
// # Verifiable authorship
//
// Each write's commit also writes a receipt (dev.townhall.community.receipt,
// key ReceiptKey(path), derived from the record's path): the path, action,
// record CID, author (the member DID the session key is bound to, never
// taken from the client), the invocation token and its proof CIDs; never
// content. The evidence migrates with a normal CAR export and standard
// verifiers accept the repo (receipts are ordinary records).
//
// # Private audiences
//
// An audience (/community/audience, a moderator act) has its own MST whose
// root is anchored in a public audience record (key = audience name), so the
// community's commit signs it transitively. Private records (writes with an
// audience) and their receipts live in that tree, stored in the
// PrivateStore, never in the public repository: getRecord, listRecords,
// the CAR export (which walks the public tree), sync events and public
// receipts never carry them. Private records must carry a random nonce of at
// least MinNonceBytes, so their CIDs cannot be confirmed by guessing.
//
// # Moderation
//
// /community/delete deletes any record; /community/revoke records a
// revocation of a grant; /community/ban records a ban and revokes every
// grant of the member's session keys. Each is an invocation, authorised by
// the moderator's chain and receipted like any write.
//
// # Limits
//
// The replay guard and the revocation set are in memory; revocations are
// rebuilt from the repo on Open, the replay guard is not, which is why
// invocations must expire within Limits.MaxInvocationTTL: after a restart
// an invocation could be replayed only within that window (and only its
// exact write, which then fails on existence for creates). Service-auth JWTs
// are checked by indigo against the real time, not HostOptions.Clock, and
// indigo does not check their jti for reuse (the join proof binds one JWT to
// one session key; a re-join with another key needs a new proof).
package community
