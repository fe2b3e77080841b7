import { Delegation } from 'iso-ucan/delegation'
import { Invocation } from 'iso-ucan/invocation'
import * as Envelope from 'iso-ucan/envelope'
import { EdDSASigner } from 'iso-signatures/signers/eddsa.js'
import { ECDSASigner } from 'iso-signatures/signers/ecdsa.js'
import { ES256KSigner } from 'iso-signatures/signers/es256k.js'
import { base64 } from 'iso-base/rfc4648'
import { Resolver } from 'iso-signatures/verifiers/resolver.js'
import { verifier as ecdsaVerifier } from 'iso-signatures/verifiers/ecdsa.js'
import { verifier as eddsaVerifier } from 'iso-signatures/verifiers/eddsa.js'
const verifierResolver = new Resolver({ ...ecdsaVerifier, ...eddsaVerifier })

const now = 1800000000
const exp = 4102444800 // 2100-01-01
const gens = {
  Ed25519: () => EdDSASigner.generate(),
  ES256: () => ECDSASigner.generate('P-256'),
  ES256K: () => ES256KSigner.generate(),
}
const b64 = (u8) => base64.encode(u8)
const cases = []
// WebCrypto's P-256 ECDSA does not normalise S, so about half of iso-ucan's ES256 signatures are
// high-S, which this package (like atproto) rejects. For ES256 the block below is retried until
// the valid chain is all low-S and the self-invocation is high-S, so that the file holds both.
const P256_HALF_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n / 2n
const highS = (bytes) => {
  const env = Envelope.decode({ envelope: bytes })
  const s = BigInt('0x' + Buffer.from(env.signature.slice(32)).toString('hex'))
  return s > P256_HALF_N
}
for (const [alg, gen] of Object.entries(gens)) {
 for (let attempt = 0; ; attempt++) {
  const start = cases.length
  const [alice, bob, carol, dan] = await Promise.all([gen(), gen(), gen(), gen()])
  const d0 = await Delegation.create({ iss: alice, aud: bob.did, sub: alice.did, cmd: '/repo', pol: [['==', '.collection', 'dev.townhall.chat.message']], exp, now })
  const d1 = await Delegation.create({ iss: bob, aud: carol.did, sub: alice.did, cmd: '/repo/create', pol: [], exp, now })
  const d2 = await Delegation.create({ iss: carol, aud: dan.did, sub: null, cmd: '/repo/create', pol: [['<', '.n', 10]], exp, now })
  const prf = [d0, d1, d2]
  const ok = await Invocation.create({ iss: dan, sub: alice.did, cmd: '/repo/create', args: { collection: 'dev.townhall.chat.message', n: 1 }, prf, exp, now, verifierResolver })
  cases.push({ name: `${alg} chain of 3 with powerline`, alg, time: now, invocation: b64(ok.bytes), proofs: prf.map((p) => b64(p.bytes)), delegationCIDs: prf.map((p) => p.cid.toString()), invocationCID: ok.cid.toString() })
  // iso-ucan refuses to build an invocation that violates a policy, so this one is signed
  // with its envelope functions directly.
  const badPayload = { iss: dan.did, aud: alice.did, sub: alice.did, cmd: '/repo/create', nonce: new Uint8Array([1, 2, 3]), exp, args: { collection: 'dev.townhall.chat.message', n: 11 }, prf: prf.map((p) => p.cid) }
  const signed = await Envelope.sign({ spec: 'inv', signer: dan, payload: badPayload })
  const badBytes = Envelope.encode(signed)
  cases.push({ name: `${alg} policy violation`, alg, time: now, invocation: b64(badBytes), proofs: prf.map((p) => b64(p.bytes)), error: 'MatchError' })
  const self = await Invocation.create({ iss: alice, sub: alice.did, cmd: '/x', args: {}, prf: [], exp, now, verifierResolver })
  cases.push({ name: `${alg} self-invocation`, alg, time: now, invocation: b64(self.bytes), proofs: [] })
  cases.push({ name: `${alg} expired`, alg, time: exp + 3600, invocation: b64(ok.bytes), proofs: prf.map((p) => b64(p.bytes)), error: 'Expired' })
  if (alg !== 'ES256' || ([ok.bytes, ...prf.map((p) => p.bytes)].every((b) => !highS(b)) && highS(self.bytes) && !highS(badBytes))) break
  cases.length = start
  if (attempt > 500) throw new Error('no suitable ES256 draw')
 }
}
console.log(JSON.stringify({ generator: 'iso-ucan 0.5.0 (npm), iso-signatures ' + '0.5.1', comments: 'Tokens are base64 (standard, padded) of the envelope bytes; time is the validation time in Unix seconds.', cases }, null, 2))
