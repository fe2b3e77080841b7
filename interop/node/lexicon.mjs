// Lexicon family: the same records against the same schemas, validated by
// @atproto/lexicon. Records arrive as typed values; blobs become BlobRef
// through ipldToLex, as the reference does when it reads a record.
import { Lexicons, ipldToLex } from '@atproto/lexicon'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { toIpld } from './tv.mjs'

function loadDir(lex, dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) loadDir(lex, p)
    else if (p.endsWith('.json')) lex.add(JSON.parse(readFileSync(p, 'utf8')))
  }
}

export async function handle(req) {
  const lex = new Lexicons()
  for (const dir of req.dirs) loadDir(lex, dir)
  for (const doc of req.schemas ?? []) lex.add(doc)
  const results = req.cases.map((c) => {
    try {
      lex.assertValidRecord(c.nsid, ipldToLex(toIpld(c.record)))
      return { valid: true }
    } catch (err) {
      return { valid: false, error: String(err?.message ?? err) }
    }
  })
  return { results }
}
