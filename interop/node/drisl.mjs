// DRISL family: bytes made by Townhall's drisl package are decoded and
// re-encoded by @ipld/dag-cbor and @atcute/cbor; typed values from the Go side
// are encoded by both libraries and the bytes go back to Go.
import * as ipld from '@ipld/dag-cbor'
import * as atcute from '@atcute/cbor'
import { b64, unb64, toIpld, toAtcute, fromJs } from './tv.mjs'

const libs = {
  ipld: { decode: (b) => ipld.decode(b), encode: (v) => ipld.encode(v), build: toIpld },
  atcute: { decode: (b) => atcute.decode(b), encode: (v) => atcute.encode(v), build: toAtcute },
}

const attempt = (f) => {
  try { return { ok: true, value: f() } } catch (err) { return { ok: false, error: String(err?.message ?? err) } }
}

// roundtrip: {bytes: [b64...]} -> {results: [{ipld: r, atcute: r}...]} where r
// is {ok, value (typed), bytes (b64 re-encoding)} or {ok:false, error}.
function roundtrip(req) {
  return req.bytes.map((s) => {
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
}

// encode: {values: [tv...]} -> {results: [{ipld: r, atcute: r}...]} where r is
// {ok, bytes} or {ok:false, error}.
function encode(req) {
  return req.values.map((tv) => {
    const out = {}
    for (const [name, lib] of Object.entries(libs)) {
      const enc = attempt(() => lib.encode(lib.build(tv)))
      out[name] = enc.ok ? { ok: true, bytes: b64(enc.value) } : { ok: false, error: enc.error }
    }
    return out
  })
}

export async function handle(req) {
  return { roundtrip: roundtrip(req), encode: encode(req) }
}
