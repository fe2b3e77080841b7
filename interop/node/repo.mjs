// MST, repo and sync 1.1 family, against @atproto/repo:
// - car: our exported repository CAR through verifyRepoCar (commit signature,
//   MST walk, every record present), with its commit, data root and records;
// - build: the same writes applied batch by batch to a repository built here
//   (Repo.create, applyWrites, signed with the same key): data roots and
//   record CIDs, and its getFullRepo CAR for Townhall to verify;
// - proofs: our getRecord CARs through verifyProofs, with each claim;
// - events: each #commit event through verifyProofs on its blocks (what
//   @atproto/sync's parseCommitAuthenticated does) and the sync 1.1 inductive
//   check done with the reference MST: invert the ops on the partial tree the
//   blocks hold and compare the root with prevData.
import {
  MST, MemoryBlockstore, Repo, WriteOpAction, cidForRecord, concatBytesAsync, def,
  getFullRepo, getRecords, readCarWithRoot, verifyProofs, verifyRepoCar,
} from '@atproto/repo'
import { P256Keypair, Secp256k1Keypair } from '@atproto/crypto'
import { parseCid } from '@atproto/lex-data'
import { toIpld, unb64 } from './tv.mjs'

const msg = (err) => `${err?.constructor?.name ?? 'Error'}: ${err?.message ?? err}`

async function checkCar(req) {
  try {
    const bytes = unb64(req.car)
    const v = await verifyRepoCar(bytes, req.did, req.key)
    const car = await readCarWithRoot(bytes)
    const commit = await new MemoryBlockstore(car.blocks).readObj(car.root, def.commit)
    const records = v.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()])
    records.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    return { ok: true, commit: v.commit.cid.toString(), data: commit.data.toString(), records }
  } catch (err) {
    return { ok: false, error: msg(err) }
  }
}

async function build(req) {
  const out = { data: [], cids: [] }
  try {
    const priv = unb64(req.priv)
    const keypair = req.k256 ? await Secp256k1Keypair.import(priv) : await P256Keypair.import(priv)
    if (keypair.did() !== req.key) throw new Error(`imported key ${keypair.did()} is not ${req.key}`)
    const storage = new MemoryBlockstore()
    let repo = await Repo.create(storage, req.did, keypair)
    out.initialData = (await repo.data.getPointer()).toString()
    const actions = { create: WriteOpAction.Create, update: WriteOpAction.Update, delete: WriteOpAction.Delete }
    for (const batch of req.batches) {
      const ops = []
      for (const w of batch.writes) {
        const op = { action: actions[w.action], collection: w.collection, rkey: w.rkey }
        if (w.record) {
          op.record = toIpld(w.record)
          out.cids.push((await cidForRecord(op.record)).toString())
        }
        ops.push(op)
      }
      repo = await repo.applyWrites(ops, keypair)
      out.data.push((await repo.data.getPointer()).toString())
    }
    // The repository built here, as getRepo serves it, for Townhall to verify.
    out.commit = repo.cid.toString()
    try {
      out.car = Buffer.from(await concatBytesAsync(getFullRepo(storage, repo.cid))).toString('base64')
    } catch (err) {
      out.carError = msg(err)
    }
    // getRecord proofs from the repository built here, for the same paths
    // as our proofs, for Townhall to verify.
    out.proofs = []
    for (const p of req.proofs) {
      try {
        const car = await concatBytesAsync(getRecords(storage, repo.cid, [{ collection: p.collection, rkey: p.rkey }]))
        out.proofs.push({ car: Buffer.from(car).toString('base64') })
      } catch (err) {
        out.proofs.push({ error: msg(err) })
      }
    }
  } catch (err) {
    out.error = msg(err)
  }
  return out
}

async function proofs(req) {
  const results = []
  for (const p of req.proofs) {
    try {
      const claim = { collection: p.collection, rkey: p.rkey, cid: p.claim ? parseCid(p.claim) : null }
      const res = await verifyProofs(unb64(p.car), [claim], req.did, req.key)
      results.push({ ok: true, verified: res.verified.length === 1 })
    } catch (err) {
      results.push({ ok: false, error: msg(err) })
    }
  }
  return results
}

async function checkEvent(req, ev) {
  const blocks = unb64(ev.blocks)
  const car = await readCarWithRoot(blocks)
  if (car.root.toString() !== ev.commit) throw new Error(`CAR root ${car.root} is not the commit ${ev.commit}`)
  const claims = ev.ops.map((op) => {
    const [collection, rkey] = op.path.split('/')
    return { collection, rkey, cid: op.action === 'delete' ? null : parseCid(op.cid) }
  })
  const res = await verifyProofs(blocks, claims, ev.repo, req.key)
  if (res.unverified.length > 0) throw new Error(`unverified ops: ${JSON.stringify(res.unverified.map((c) => `${c.collection}/${c.rkey}`))}`)
  const bs = new MemoryBlockstore(car.blocks)
  const commit = await bs.readObj(car.root, def.commit)
  if (commit.rev !== ev.rev) throw new Error(`commit rev ${commit.rev} is not the event's ${ev.rev}`)
  let mst = MST.load(bs, commit.data)
  for (const op of ev.ops) {
    if (op.action === 'create') mst = await mst.delete(op.path)
    else if (op.action === 'update') mst = await mst.update(op.path, parseCid(op.prev))
    else mst = await mst.add(op.path, parseCid(op.prev))
  }
  const prev = (await mst.getPointer()).toString()
  if (prev !== ev.prevData) throw new Error(`inverted ops give ${prev}, not prevData ${ev.prevData}`)
}

async function events(req) {
  const results = []
  for (const ev of req.events) {
    try {
      await checkEvent(req, ev)
      results.push({ valid: true })
    } catch (err) {
      results.push({ valid: false, error: msg(err) })
    }
  }
  return results
}

export async function handle(req) {
  return { car: await checkCar(req), build: await build(req), proofs: await proofs(req), events: await events(req) }
}
