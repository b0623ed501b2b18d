#!/usr/bin/env node
// `npm run build` compiles TypeScript only; the Lua scripts each module loads at run time (src/**/lua/)
// and the browser console's files (src/console/web/) are copied next to the compiled files here.
import { cpSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

let copied = 0
function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue
    const path = join(dir, entry.name)
    if (entry.name === 'lua') {
      cpSync(path, join('dist', path), { recursive: true })
      copied++
    } else walk(path)
  }
}
walk('src')
console.log(`copied ${copied} Lua folders into dist/`)
cpSync(join('src', 'console', 'web'), join('dist', 'src', 'console', 'web'), { recursive: true })
console.log('copied the console files into dist/')
