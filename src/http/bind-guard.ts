import { isIP } from 'node:net'
import type { Rules } from '../rules/compile.js'
import { sha256Hex } from './auth.js'

/**
 * Keys whose plain text ships with Tickbridge (the example and demo rules, the README). Anyone can read
 * them, so they may only ever be in force on a server that nobody else can reach.
 */
export const PUBLISHED_KEYS: readonly string[] = [
  'tb_example_admin_key',
  'tb_example_read_key',
  'tb_demo_key',
  'tb_demo_operator_key',
]

const PUBLISHED_HASHES = new Map(PUBLISHED_KEYS.map((key) => [sha256Hex(key), key]))

/** True for addresses only this machine can reach: `localhost`, 127.0.0.0/8 and ::1 (also IPv4-mapped). */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) !== 6) return false
  // The URL parser writes IPv6 in canonical form: ::1, and ::ffff:7fxx:xxxx for IPv4-mapped 127/8.
  const canonical = new URL(`http://[${h}]/`).hostname
  return canonical === '[::1]' || canonical.startsWith('[::ffff:7f')
}

/**
 * What is wrong with serving these rules on `host`, one line per published key in force; empty when
 * the bind is safe. The message names the key id (never the key) and how to make a real one.
 */
export function bindProblems(host: string, rules: Rules): string[] {
  if (isLoopbackHost(host)) return []
  return rules.config.apiKeys.flatMap((key) => {
    const published = PUBLISHED_HASHES.get(key.sha256)
    if (!published) return []
    return [
      `apiKeys id "${key.id}": its key "${published}" is published with Tickbridge, so it must not be in ` +
        `force while HOST=${host} lets other machines connect. Make a real key ` +
        '(KEY=$(openssl rand -hex 32); printf %s "$KEY" | npm run -s tickbridge -- key hash), put that hash in the ' +
        'rules in place of this one, or set HOST=127.0.0.1.',
    ]
  })
}
