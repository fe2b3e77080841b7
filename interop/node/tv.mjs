// Typed values: the JSON form in which the Go side and the Node side exchange
// values of the DRISL data model without losing what JSON cannot say
// (int vs float, bytes, CIDs, 64-bit integers). Every typed value is an
// object {t, v}:
//   {t:'null'} {t:'bool',v:true} {t:'int',v:'-12'} (decimal string)
//   {t:'float',v:1.5} {t:'str',v:'x'} {t:'bytes',v:'<base64>'}
//   {t:'cid',v:'bafy...'} {t:'list',v:[tv...]} {t:'map',v:[[key,tv]...]}
import { CID } from 'multiformats/cid'
import * as atcute from '@atcute/cbor'
import * as atcuteCid from '@atcute/cid'

export const b64 = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64')
export const unb64 = (s) => new Uint8Array(Buffer.from(s, 'base64'))

const safe = (n) => n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)

// Build the value as @ipld/dag-cbor models it.
export function toIpld(tv) {
  switch (tv.t) {
    case 'null': return null
    case 'bool': return tv.v
    case 'int': { const n = BigInt(tv.v); return safe(n) ? Number(n) : n }
    case 'float': return tv.v
    case 'str': return tv.v
    case 'bytes': return unb64(tv.v)
    case 'cid': return CID.parse(tv.v)
    case 'list': return tv.v.map(toIpld)
    case 'map': {
      const o = {}
      for (const [k, v] of tv.v) Object.defineProperty(o, k, { value: toIpld(v), enumerable: true, writable: true, configurable: true })
      return o
    }
  }
  throw new Error(`unknown typed value ${tv.t}`)
}

// Build the value as @atcute/cbor models it.
export function toAtcute(tv) {
  switch (tv.t) {
    case 'null': return null
    case 'bool': return tv.v
    case 'int': { const n = BigInt(tv.v); if (!safe(n)) throw new RangeError('integer beyond safe range'); return Number(n) }
    case 'float': return tv.v
    case 'str': return tv.v
    case 'bytes': return atcute.toBytes(unb64(tv.v))
    case 'cid': return atcute.toCidLink(atcuteCid.fromString(tv.v))
    case 'list': return tv.v.map(toAtcute)
    case 'map': {
      const o = {}
      for (const [k, v] of tv.v) Object.defineProperty(o, k, { value: toAtcute(v), enumerable: true, writable: true, configurable: true })
      return o
    }
  }
  throw new Error(`unknown typed value ${tv.t}`)
}

// Describe a decoded JS value (from either library) as a typed value.
export function fromJs(v) {
  if (v === null) return { t: 'null' }
  if (typeof v === 'boolean') return { t: 'bool', v }
  if (typeof v === 'bigint') return { t: 'int', v: v.toString() }
  if (typeof v === 'number') return Number.isInteger(v) ? { t: 'int', v: BigInt(v).toString() } : { t: 'float', v }
  if (typeof v === 'string') return { t: 'str', v }
  if (v instanceof Uint8Array) return { t: 'bytes', v: b64(v) }
  if (v instanceof atcute.BytesWrapper) return { t: 'bytes', v: b64(atcute.fromBytes(v)) }
  if (v instanceof atcuteCid.CidLinkWrapper) return { t: 'cid', v: v.$link }
  const cid = CID.asCID(v)
  if (cid) return { t: 'cid', v: cid.toString() }
  if (Array.isArray(v)) return { t: 'list', v: v.map(fromJs) }
  if (typeof v === 'object') return { t: 'map', v: Object.keys(v).map((k) => [k, fromJs(v[k])]) }
  throw new Error(`value of unexpected JS type ${typeof v}`)
}
