import plc from './dist/index.js'
import { CID } from 'multiformats/cid'
import fs from 'fs'
import { cidForCbor } from '@atproto/common'

const scenarios = process.argv[2] ? JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) : []
const vecdir = (process.env.PLC_VECTORS || 'plc/testdata/didplc').replace(/\/?$/, '/')
for (const f of fs.readdirSync(vecdir).filter(f => f.startsWith('log_') && f.endsWith('.json'))) {
  const log = JSON.parse(fs.readFileSync(vecdir + f, 'utf8'))
  scenarios.push({ did: log[0].did, entries: log, file: f })
}
for (const sc of scenarios) {
  const name = sc.file || sc.did
  let ops = [] // non-nullified indexed ops, as the server keeps them
  let verdict = 'accepted'
  const nullifiedAll = new Set()
  for (const [i, e] of sc.entries.entries()) {
    const cid = await cidForCbor(e.operation)
    if (cid.toString() !== e.cid) { verdict = `cid mismatch at ${i}`; break }
    try {
      const { nullified } = await plc.assureValidNextOp(sc.did, ops, e.operation, new Date(e.createdAt))
      const ns = nullified.map(c => c.toString())
      ns.forEach(c => nullifiedAll.add(c))
      ops = ops.filter(o => !ns.includes(o.cid.toString()))
      ops.push({ did: sc.did, operation: e.operation, cid, nullified: false, createdAt: new Date(e.createdAt) })
    } catch (err) {
      verdict = `rejected at ${i}: ${err.constructor.name} ${err.message.slice(0,150)}`
      break
    }
  }
  let docOK = ''
  if (verdict === 'accepted') {
    const flagsOK = sc.entries.every(e => e.nullified === nullifiedAll.has(e.cid))
    docOK += ' nullified-flags-match=' + flagsOK
  }
  if (sc.data && verdict === 'accepted') {
    const data = await plc.validateOperationLog(sc.did, ops.map(o => o.operation))
    const doc = plc.formatDidDoc(data)
    const norm = x => JSON.stringify(x, Object.keys(x).sort())
    docOK += ' data ' + (JSON.stringify(data.verificationMethods) === JSON.stringify(Object.fromEntries(Object.entries(sc.data.verificationMethods))) ? 'vm-same-order' : 'vm-order-differs') +
      ' doc-equal-as-sets=' + (JSON.stringify(doc.verificationMethod.map(v => v.id).sort()) === JSON.stringify(sc.doc.verificationMethod.map(v => v.id).sort()) &&
      JSON.stringify(doc['@context'].slice().sort()) === JSON.stringify(sc.doc['@context'].slice().sort()) &&
      JSON.stringify(doc.alsoKnownAs) === JSON.stringify(sc.doc.alsoKnownAs) &&
      JSON.stringify(doc.service.map(s => s.id + s.serviceEndpoint).sort()) === JSON.stringify(sc.doc.service.map(s => s.id + s.serviceEndpoint).sort()))
  }
  console.log(name, verdict, docOK)
}
