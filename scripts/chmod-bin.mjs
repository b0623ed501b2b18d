#!/usr/bin/env node
// tsc writes files without the execute bit: the package's bin entries get it here, so the compiled CLI
// runs as `./dist/src/cli/tickbridge.js` and through the `node_modules/.bin/tickbridge` link.
import { chmodSync, readFileSync } from 'node:fs'

const { bin = {} } = JSON.parse(readFileSync('package.json', 'utf8'))
for (const path of Object.values(bin)) {
  if (!readFileSync(path, 'utf8').startsWith('#!'))
    throw new Error(`${path}: no #! line, it cannot run as a command`)
  chmodSync(path, 0o755)
}
console.log(`made ${Object.keys(bin).length} bin file(s) executable`)
