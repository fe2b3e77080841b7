// UCAN family, against iso-ucan: for scenarios whose creator is "ts" the
// tokens are signed here with iso-ucan (Delegation.create, and the
// invocation through iso-ucan's envelope signer, since Invocation.create
// refuses to sign what it would not accept); every scenario's invocation is
// then validated here with Invocation.from, resolving its proofs with
// Delegation.from. Keys arrive as raw private keys and are imported into
// iso-signatures signers; their did:keys go back for comparison.
import { Delegation } from 'iso-ucan/delegation'
import { Invocation } from 'iso-ucan/invocation'
import * as Envelope from 'iso-ucan/envelope'
import { EdDSASigner } from 'iso-signatures/signers/eddsa.js'
import { ES256KSigner } from 'iso-signatures/signers/es256k.js'
import { ECDSASigner } from 'iso-signatures/signers/ecdsa.js'
import { Resolver } from 'iso-signatures/verifiers/resolver.js'
import { verifier as eddsaVerifier } from 'iso-signatures/verifiers/eddsa.js'
import { verifier as ecdsaVerifier } from 'iso-signatures/verifiers/ecdsa.js'
import { base64pad } from 'iso-base/rfc4648'
import { tag } from 'iso-base/varint'
import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { b64, unb64 } from './tv.mjs'

const verifierResolver = new Resolver({ ...eddsaVerifier, ...ecdsaVerifier })

async function signer(k) {
  const priv = unb64(k.priv)
  switch (k.type) {
    case 'Ed25519': return EdDSASigner.import(base64pad.encode(tag(0x1300, priv)))
    case 'ES256K': return ES256KSigner.generate(priv)
    case 'ES256': return ECDSASigner.importJwk(k.jwk)
  }
  throw new Error(`unknown key type ${k.type}`)
}

async function make(sc, signers) {
  const dlgs = []
  for (const d of sc.chain) {
    const opts = { iss: signers[d.iss], aud: signers[d.aud].did, sub: signers[d.sub].did, cmd: d.cmd, pol: d.pol, exp: d.exp }
    if (d.nbf) opts.nbf = d.nbf
    if (d.exp < Math.floor(Date.now() / 1000)) opts.now = d.exp - 10 // create refuses an expired exp
    dlgs.push(await Delegation.create(opts))
  }
  const iss = signers[sc.inv.iss]
  const payload = {
    iss: iss.did, aud: signers[sc.inv.sub].did, sub: signers[sc.inv.sub].did, cmd: sc.inv.cmd,
    nonce: new Uint8Array(randomBytes(12)), exp: sc.inv.exp, args: sc.inv.args, prf: dlgs.map((d) => d.cid),
  }
  const { signature, signaturePayload } = await Envelope.sign({ spec: 'inv', signer: iss, payload })
  if (sc.badSig) signature[7] ^= 1
  const inv = Envelope.encode({ signature, signaturePayload })
  return { delegations: dlgs.map((d) => d.bytes), invocation: inv }
}

async function validate(tokens) {
  // Index the attached delegations by CID (sha2-256 of the bytes, as the
  // invocation's prf names them), without judging them: Delegation.from
  // judges each when the invocation asks for it.
  const byCid = new Map()
  for (const bytes of tokens.delegations) {
    const c = CID.create(1, dagCbor.code, await sha256.digest(bytes))
    byCid.set(c.toString(), bytes)
  }
  await Invocation.from({
    bytes: tokens.invocation,
    verifierResolver,
    resolveProof: async (cid) => {
      const bytes = byCid.get(cid.toString())
      if (!bytes) throw new Error(`proof ${cid} not attached`)
      return Delegation.from({ bytes, verifierResolver })
    },
  })
}

export async function handle(req) {
  const results = []
  for (const sc of req.scenarios) {
    const out = { DIDs: {} }
    const signers = {}
    for (const [name, k] of Object.entries(sc.keys)) {
      signers[name] = await signer(k)
      out.DIDs[name] = signers[name].did
    }
    let tokens = sc.creator === 'go' ? { delegations: sc.delegations.map(unb64), invocation: unb64(sc.invocation) } : null
    if (!tokens) {
      try {
        tokens = await make(sc, signers)
        out.delegations = tokens.delegations.map(b64)
        out.invocation = b64(tokens.invocation)
      } catch (err) {
        out.makeError = String(err?.stack ?? err)
        results.push(out)
        continue
      }
    }
    try {
      await validate(tokens)
      out.valid = true
    } catch (err) {
      out.valid = false
      out.error = `${err?.message ?? err}${err?.cause ? ` (${err.cause?.message ?? err.cause})` : ''}`
    }
    results.push(out)
  }
  return { results }
}
