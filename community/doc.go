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
// migration); session keys are did:key; other DIDs go to HostOptions.Resolver.
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
// /community/join proof naming the member and the JWT (NewJoinProof; it
// expires within Limits.MaxInvocationTTL), so the binding is asked for by
// the holder of both. The grants come from a
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
// ...}]}, or the shared form {collection, action?, audience?, writes:
// [{rkey, cid?, action?}]}: writes of one collection and audience, named
// once and matched once by a grant's policy, a write naming any of them
// again refused; Session.Batch sends it when it can; a policy of one's own
// that tests only what is inside .writes must test the top level too) and
// the moderation acts. The checks, in order: sizes
// (Limits.MaxRecordBytes per record, MaxBatchWrites per request); the
// invocation and its chain with package ucan (signatures, time bounds,
// revocation, attenuation, policies, replay, and the executor: aud absent
// or the community's DID, so an invocation addressed to another service is
// refused); its subject and lifetime
// (exp required, at most Limits.MaxInvocationTTL ahead); the invoker bound to
// a member who is not banned; the arguments (exactly the keys above; every
// write of a request in one tree: the public repo or one audience);
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
// commit: it drains the queue (up to Limits.MaxGroupCommit requests; while
// other callers are still validating their requests it waits for them, at
// most Limits.MaxGroupWait, so that one fsync serves them all), admits
// each, and turns the batch into ONE signed commit; requests touching a path
// an earlier request of the batch touches wait for the next round; if the
// commit fails, the requests are committed one by one so one bad request
// cannot sink the others. Every caller gets its own result or error, once
// its commit is durable. A round of plain public record writes (no
// after-effects such as joins, bans or revocations, no private records, no
// member's update or delete, whose owner check reads the stored receipt)
// is staged (repo.Repo.ApplyAsync): the writer builds the next round's
// commit on it while the store writes it, so that building and storing
// overlap; other rounds first wait for the staged one. If the store fails
// a staged round, its requests (and the round built on it) are admitted
// and committed again. To keep the writer's serial work small, the caller's goroutine looks its
// paths up (receipt, record) in the tree of the latest commit before
// queueing; the writer uses those answers only if none of its commits
// since then wrote the paths, and looks them up itself otherwise.
//
// # Verifiable authorship
//
// Each write's commit also writes a receipt (dev.townhall.community.receipt,
// key ReceiptKey(path), derived from the record's path so that receipts sort
// like their records) and, once per
// request, the invocation itself (dev.townhall.community.invocation, key =
// the token's CID, in the same tree as the writes). The receipt holds the
// invocation's CID, the author (the member DID the session key is bound to,
// never taken from the client) and the time; what was written (action,
// path, record CID, audience) is in the invocation's arguments, signed by
// the member. So every write of a request has byte-identical receipts (one
// block), and a batch of 32 messages stores its ~4 KB invocation once, not
// 32 times. Neither holds content. A request writes one tree (the public repo or
// one audience), so a private write's invocation never reaches the public
// repo. The evidence migrates with a normal CAR export and standard
// verifiers accept the repo (receipts and invocations are ordinary records;
// indigo's LoadRepoFromCAR is the test oracle).
//
// Community.Bundle (PrivateBundle for readers of an audience) builds an
// authorship Bundle: the signed head commit, MST nodes proving the record,
// its receipt, the invocation record it names and the author's binding
// record, the bytes of all four, and the delegations the invocation names.
// VerifyBundle checks it offline with only the community's DID document: the
// commit's DID and signature; each proof (mst.VerifyProof) and that the
// bytes hash to the proved CIDs; that the invocation record, proved in the
// receipt's tree at the key the receipt names, holds a token hashing to the
// CID the receipt names; that this invocation writes exactly this path,
// audience and record CID (args) and validates with its chain back to the
// community (package ucan, addressed to the community, at the receipt's
// time, with a fresh replay guard); and that the binding ties the invoking
// session key to the
// receipt's author. Any change fails with ErrBadBundle. Records written
// under an earlier host carry root delegations signed by that host's key:
// pass the DID's audit log (VerifyOptions.AuditLog) to accept the keys of
// its active history for the chain. One host key signs the commits of every
// community on the host, so a key alone binds no community: with
// VerifyOptions.Key, VerifyOptions.DID is required and the evidence must be
// that DID's (VerifyAudienceCAR takes it as an argument); Key and Document
// together are refused.
//
// # Private audiences
//
// An audience (/community/audience, a moderator act, args {name, readers})
// has its own MST whose root is anchored in a public audience record (key =
// audience name), so the community's commit signs it transitively. Private
// records (writes with args.audience, allowed by the writer's policy) and
// their receipts live in that tree, in the PrivateStore (memory, or its own
// SQLite file), never in the public repository. The writer stores private
// blocks before the public commit that anchors them, so a crash leaves at
// worst unreferenced private blocks, never a dangling anchor. Private
// records must carry a random "nonce" of at least MinNonceBytes.
//
// Readers invoke /audience/read (args {audience}); ReadAudience returns an
// AudienceView: the commit, the public proof of the anchor, the anchor, and
// every block of the private tree, so the chain commit -> public MST ->
// anchor -> private MST -> record verifies (AudienceView.WriteCAR,
// VerifyAudienceCAR: the member's backup format).
//
// What an outsider (anyone without a read grant for the audience) can learn,
// from the public repo, its CAR export and its sync events: that the
// audience exists, its name and reader roles (the anchor record); every
// commit that changed it, hence when and how often it changes (one anchor
// update per commit, however many private records the commit wrote), and
// the new private root CID (a hash that reveals nothing else); which members
// may read or write it (grants are public records, and their policies name
// the audiences); and, through timing, that a private write shared a commit
// with public writes. An outsider cannot learn the records' content, count,
// collections, keys, CIDs (the nonce defeats guessing), authors or
// receipts: none of these are in any public block. The host operator, of
// course, holds the private store.
//
// # Moderation
//
// /community/delete deletes any record (public or private); /community/revoke
// records a revocation of a grant; /community/ban records a ban and revokes
// every grant of the member's session keys (later joins are refused). Each
// is an invocation, authorised by the moderator's chain and receipted like
// any write. RevokeUCAN executes a standard /ucan/revoke by any issuer in a
// delegation's chain (for instance the moderator who invited a member).
//
// # Migration
//
// Host.Migrate moves a community to the calling host without the old host:
// from the old host's export or a member's backup (and audience CARs for the
// private trees). First it checks everything without writing: the CAR
// verifies against one of the atproto keys of the DID's validated audit log
// (skipping a hostile operation being nullified and what follows it), and a
// key that a later operation replaced (the hostile one included) only for a
// commit whose rev is dated no later than that operation (plus
// repo.DefaultMaxClockSkew); its root is MigrateOptions.Commit if that is
// set; each audience CAR matches its anchor in that repository; the
// recovery key can sign the PLC operation that points the DID to the new
// host's signing key, endpoint and rotation key (plc.Move on the head, or
// plc.Nullify around a hostile operation, within plc.RecoveryWindow, 72 h).
// Then it stores the private blocks, imports the repository (repo.Import),
// submits the PLC operation, and re-issues the root delegations with the
// new key in one
// commit signed by the new host; members fetch their new chains with
// Community.Membership. A refused migration leaves nothing behind; a retry
// after a failed submission accepts the already imported commit. Host.Open
// refuses a community whose DID document no longer names the host's key.
// PLCResolver resolves a did:plc from its validated audit log for third
// parties.
//
// A repository signed by an earlier key of the DID is only as trustworthy
// as that key's holder: an old host turned hostile still holds its old key
// and can sign a forged "backup" (bans and revocations dropped, grants
// added) with a rev dated before its hostile operation. The date bound
// stops only a forgery dated after the key was replaced; pin the commit you
// trust (MigrateOptions.Commit: one seen on a relay's firehose or in your
// own backup) to stop the rest.
//
// # API at a glance
//
// Host side: NewHost(HostOptions), then Host.Create, Host.Open or
// Host.Migrate give a Community: Join, Invoke, ReadAudience, RevokeUCAN,
// Membership, GetRecord, ListRecords, Export, Events(EventsOptions),
// Changed, Bundle, PrivateBundle. Client side: NewJoinProof(signer, JoinProofFields), NewSession(Membership, signer),
// then Session.Create, Update, Delete, Private, Write, Batch, Moderate,
// Revoke, Ban, CreateAudience, Read and Invite each return the Request to
// send. Anyone: VerifyBundle, VerifyAudienceCAR, PLCResolver.
//
// # Limits
//
// Verifiable authorship has a price: every record write is two repository
// writes (the record and its receipt, plus one invocation record per
// request), so a bulk import does about twice the MST and SQLite work of a
// plain repository holding the same records, on top of one signature and
// one verification per request (examples/import measures it).
//
// The replay guard and the revocation set are in memory and rebuilt on
// Open: revocations from their records, the replay guard from the
// invocation records (public and private) written within the last
// Limits.MaxInvocationTTL, which is why invocations must expire within that
// window. The guard is consulted when an invocation validates, before the
// checks that follow (arguments, records, an invitation's grants...), so a
// request refused after validation has spent its invocation: the client
// signs a new one (a join refused so spends its invitation too). Only
// executed invocations are written, so after a restart such a refused
// invocation would validate again. Invocation records are never deleted (a later write replaces a
// path's receipt, not the invocation that wrote it before): the repo keeps
// every executed invocation, and Open reads them all. Service-auth JWTs
// are checked by indigo against the real time, not HostOptions.Now, and
// indigo does not check their jti for reuse. A JWT is public once used (the
// binding record holds it, so that anyone can check the member's PDS
// signature), so the host makes it single use: Join refuses a JWT that a
// binding of the community already holds (the set of spent JWTs, keyed by
// the hash of the JWT's signed part, is rebuilt from the binding records on
// Open and checked again in the writer, so two concurrent joins with one
// JWT cannot both land), and a JWT must carry iat and live (exp - iat) at
// most Limits.MaxInvocationTTL. Founders' JWTs are spent host-wide in
// memory: after a restart, Create would accept a founder's JWT again until
// it expires (within MaxInvocationTTL of its issue). Grants
// issued at join do not expire (revocation ends them). Membership rebuilds
// chains by walking grant records (newest first, at most 16 deep); a
// community with very many grants would want an index. Audience CARs hold
// the whole private tree: fine for chat channels, not for huge audiences.
// VerifyAudienceCAR and Migrate read such a CAR whole into memory, up to
// VerifyOptions.MaxBytes or MigrateOptions.MaxBytes (default
// DefaultMaxMigrationBytes, 256 MiB; Migrate applies its bound to the
// repository CAR and to each audience CAR), and refuse a larger one with
// ErrRecordTooLarge.
//
// # Why written here
//
// No Go library implements community repos, so this layer is written here;
// its parts come from this module's packages and indigo (atproto/auth for
// service-auth JWTs, atproto/identity for members' DID documents).
package community
