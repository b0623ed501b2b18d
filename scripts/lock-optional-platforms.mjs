#!/usr/bin/env node
// Adds lock entries for platform-specific optional packages that this workplace's npm registry mirror
// does not serve (e.g. @biomejs/cli-darwin-arm64). npm leaves them out of package-lock.json, after which
// `npm ci` refuses the lock as "out of sync". Each added entry carries its os/cpu, so npm skips it on
// other platforms and installs it normally where it applies. Run after `npm install`; idempotent.
import { readFileSync, writeFileSync } from 'node:fs'

const file = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(file, 'utf8'))
const packages = lock.packages
const OS = ['android', 'darwin', 'freebsd', 'linux', 'netbsd', 'openbsd', 'sunos', 'win32', 'aix']
const CPU = ['arm64', 'x64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el']

let added = 0
for (const [path, meta] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    const base = path ? `${path}/node_modules/` : 'node_modules/'
    if (packages[`${base}${name}`] || packages[`node_modules/${name}`]) continue
    if (!/^\d+\.\d+\.\d+/.test(spec)) continue // only exact platform pins are patched
    const parts = name.split(/[/-]/)
    const entry = { version: spec, optional: true }
    if (meta.dev) entry.dev = true
    const os = OS.find((o) => parts.includes(o))
    const cpu = CPU.find((c) => parts.includes(c))
    if (os) entry.os = [os]
    if (cpu) entry.cpu = [cpu]
    if (parts.includes('musl')) entry.libc = ['musl']
    else if (os === 'linux') entry.libc = ['glibc']
    packages[`node_modules/${name}`] = entry
    added++
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
)
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`package-lock.json: ${added} optional platform entr${added === 1 ? 'y' : 'ies'} added`)
