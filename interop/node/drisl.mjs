// DRISL family: bytes made by Townhall's drisl package are decoded and
// re-encoded by @ipld/dag-cbor, @atcute/cbor and @atproto/lex-cbor; typed
// values from the Go side are encoded by each library and the bytes go back
// to Go. For atproto JSON, @atproto/lex-json and @atcute/cbor's JSON model
// read our JSON and write theirs.
import * as ipld from '@ipld/dag-cbor'
import * as atcute from '@atcute/cbor'
import * as lexCbor from '@atproto/lex-cbor'
import * as lexJson from '@atproto/lex-json'
import { b64, unb64, toIpld, toAtcute, fromJs } from './tv.mjs'

const libs = {
  ipld: { decode: (b) => ipld.decode(b), encode: (v) => ipld.encode(v), build: toIpld },
  atcute: { decode: (b) => atcute.decode(b), encode: (v) => atcute.encode(v), build: toAtcute },
  lexcbor: { decode: (b) => lexCbor.decode(b), encode: (v) => lexCbor.encode(v), build: toIpld },
}

const attempt = (f) => {
  try { return { ok: true, value: f() } } catch (err) { return { ok: false, error: String(err?.message ?? err) } }
}

// cbor: {bytes: [b64...], values: [tv...]} -> {roundtrip: [...], encode: [...]}.
// roundtrip[i][lib] is {ok, value (typed), bytes (b64 re-encoding)} or
// {ok:false, error}; encode[i][lib] is {ok, bytes} or {ok:false, error}.
function cbor(req) {
  const roundtrip = req.bytes.map((s) => {
    const input = unb64(s)
    const out = {}
    for (const [name, lib] of Object.entries(libs)) {
      const dec = attempt(() => lib.decode(input))
      if (!dec.ok) { out[name] = { ok: false, error: 'decode: ' + dec.error }; continue }
      const enc = attempt(() => lib.encode(dec.value))
      if (!enc.ok) { out[name] = { ok: false, error: 'encode: ' + enc.error }; continue }
      out[name] = { ok: true, value: fromJs(dec.value), bytes: b64(enc.value) }
    }
    return out
  })
  const encode = req.values.map((tv) => {
    const out = {}
    for (const [name, lib] of Object.entries(libs)) {
      const enc = attempt(() => lib.encode(lib.build(tv)))
      out[name] = enc.ok ? { ok: true, bytes: b64(enc.value) } : { ok: false, error: enc.error }
    }
    return out
  })
  return { roundtrip, encode }
}

const jsonLibs = {
  // The atproto reference: JSON <-> lex values <-> DRISL.
  lexjson: {
    fromJson: (text) => lexCbor.encode(lexJson.lexParse(text)),
    toJson: (bytes) => lexJson.lexStringify(lexCbor.decode(bytes)),
  },
  // @atcute/cbor reads and writes the JSON model directly ($link/$bytes objects).
  atcute: {
    fromJson: (text) => atcute.encode(JSON.parse(text)),
    toJson: (bytes) => JSON.stringify(atcute.decode(bytes)),
  },
}

// json: {json: [string...], bytes: [b64...]} (our JSON and our DRISL of the
// same values) -> {results: [{lib: {fromJson: {ok, bytes}, toJson: {ok, json}}}]}
function json(req) {
  return req.json.map((text, i) => {
    const bytes = unb64(req.bytes[i])
    const out = {}
    for (const [name, lib] of Object.entries(jsonLibs)) {
      const from = attempt(() => b64(lib.fromJson(text)))
      const to = attempt(() => lib.toJson(bytes))
      out[name] = {
        fromJson: from.ok ? { ok: true, bytes: from.value } : from,
        toJson: to.ok ? { ok: true, json: to.value } : to,
      }
    }
    return out
  })
}

// decode: {bytes: [b64...]} -> {results: [{lib: {ok, error}}]}: whether each
// library's decoder accepts each input.
function decodeOnly(req) {
  return req.bytes.map((s) => {
    const input = unb64(s)
    const out = {}
    for (const [name, lib] of Object.entries(libs)) {
      const dec = attempt(() => lib.decode(input))
      out[name] = dec.ok ? { ok: true } : { ok: false, error: dec.error }
    }
    return out
  })
}

export async function handle(req) {
  switch (req.op) {
    case 'decode': return { results: decodeOnly(req) }
    case 'cbor': return cbor(req)
    case 'json': return { results: json(req) }
  }
  throw new Error(`unknown op ${req.op}`)
}
