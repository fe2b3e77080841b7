// did:plc family: audit logs built by Townhall's plc package are replayed
// with @did-plc/lib as the reference directory does on submission: each
// operation goes through assureValidNextOp against the operations still
// active at that moment, with the clock set to the entry's createdAt, and the
// operations it nullifies are dropped. The DID, every operation's CID and the
// set of nullified operations must match the log; the final data is
// opToData of the last active operation.
import * as plc from '@did-plc/lib'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { P256Keypair, Secp256k1Keypair } from '@atproto/crypto'
import { unb64 } from './tv.mjs'

const cidFor = async (op) => CID.create(1, dagCbor.code, await sha256.digest(dagCbor.encode(op))).toString()

async function replay(log) {
  const out = { valid: false, did: '', cids: [], nullified: [], data: null }
  const realNow = Date.now
  try {
    const first = log.entries[0]?.operation
    if (!first) throw new Error('empty log')
    out.did = await plc.didForCreateOp(first)
    for (const e of log.entries) out.cids.push(await cidFor(e.operation))
    let active = []
    const nullified = new Set()
    for (const [i, e] of log.entries.entries()) {
      if (out.cids[i] !== e.cid) throw new Error(`entry ${i}: cid ${e.cid} is not the operation's (${out.cids[i]})`)
      const at = new Date(e.createdAt)
      Date.now = () => at.getTime()
      const res = await plc.assureValidNextOp(log.did, active, e.operation)
      Date.now = realNow
      const gone = new Set(res.nullified.map((c) => c.toString()))
      for (const c of gone) nullified.add(c)
      active = active.filter((a) => !gone.has(a.cid.toString()))
      active.push({ did: log.did, operation: e.operation, cid: CID.parse(e.cid), nullified: false, createdAt: at })
    }
    const flagged = log.entries.filter((e) => e.nullified).map((e) => e.cid)
    if (flagged.length !== nullified.size || flagged.some((c) => !nullified.has(c))) {
      throw new Error(`nullified flags ${JSON.stringify(flagged)} are not what replay nullified ${JSON.stringify([...nullified])}`)
    }
    out.nullified = [...nullified]
    // Every operation was verified above; opToData renders the head's data.
    out.data = plc.opToData(log.did, active.at(-1).operation)
    out.valid = true
  } catch (err) {
    out.error = `${err?.constructor?.name ?? 'Error'}: ${err?.message ?? err}`
  } finally {
    Date.now = realNow
  }
  return out
}

// make: operation logs written by @did-plc/lib (createOp, then updates and
// maybe a tombstone, each signed by the host key), for Townhall to validate.
async function make(spec) {
  const key = (k) => (k.k256 ? Secp256k1Keypair.import(unb64(k.priv)) : P256Keypair.import(unb64(k.priv)))
  const [rec, host, signing] = await Promise.all(spec.keys.map(key))
  const { op, did } = await plc.createOp({
    signingKey: signing.did(), handle: spec.handle, pds: spec.pds, rotationKeys: [rec.did(), host.did()], signer: host,
  })
  const ops = [op]
  for (const step of spec.steps ?? []) {
    const last = ops.at(-1)
    switch (step.kind) {
      case 'handle': ops.push(await plc.updateHandleOp(last, host, step.value)); break
      case 'pds': ops.push(await plc.updatePdsOp(last, host, step.value)); break
      case 'atprotoKey': ops.push(await plc.updateAtprotoKeyOp(last, rec, step.value)); break
      case 'tombstone': ops.push(await plc.tombstoneOp(CID.parse(await cidFor(last)), rec)); break
    }
  }
  return { did, ops, cids: await Promise.all(ops.map(cidFor)), data: plc.opToData(did, ops.at(-1)) }
}

export async function handle(req) {
  if (req.make) {
    const made = []
    for (const spec of req.make) made.push(await make(spec))
    return { made }
  }
  const results = []
  for (const log of req.logs) results.push(await replay(log))
  return { results }
}
