// Entry point of the Node side of the interop suite.
//
//   node node/main.mjs <family>
//
// reads one JSON request on stdin, hands it to the family's module
// (node/<family>.mjs, which exports `handle(request)`), and writes its JSON
// answer on stdout. Anything that goes wrong in the harness itself (not a
// verdict about the data) exits non-zero with the error on stderr.
import { readFileSync } from 'node:fs'

const families = {
  drisl: () => import('./drisl.mjs'),
  lexicon: () => import('./lexicon.mjs'),
  plc: () => import('./plc.mjs'),
  repo: () => import('./repo.mjs'),
  ucan: () => import('./ucan.mjs'),
}

const family = process.argv[2]
if (!families[family]) {
  process.stderr.write(`unknown family ${JSON.stringify(family)}; known: ${Object.keys(families).join(', ')}\n`)
  process.exit(2)
}

try {
  const request = JSON.parse(readFileSync(0, 'utf8'))
  const mod = await families[family]()
  const answer = await mod.handle(request)
  process.stdout.write(JSON.stringify(answer))
} catch (err) {
  process.stderr.write(`interop ${family}: ${err?.stack ?? err}\n`)
  process.exit(1)
}
