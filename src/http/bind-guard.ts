import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
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

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/**
 * True only for loopback IP addresses: 127.0.0.0/8 and ::1 (IPv4-mapped ::ffff:127.x too, which
 * BlockList matches against the IPv4 rule). A name is never loopback by its spelling: `localhost` or
 * `x.localhost` can resolve anywhere, so names are judged by the addresses they resolve or bind to.
 */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 0) return false
  return LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

/** The addresses other machines could connect to. */
export function exposedAddresses(addresses: readonly string[]): string[] {
  return addresses.filter((a) => !isLoopbackAddress(a))
}

export class BindError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BindError'
  }
}

export type Lookup = (host: string) => Promise<string[]>

const systemLookup: Lookup = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address)

/**
 * The addresses a listen on `host` will bind: the address itself, or every address the name resolves
 * to (Fastify listens on each of them). Checked before the start; the addresses actually bound are
 * checked again after listen.
 */
export async function plannedAddresses(host: string, resolve: Lookup = systemLookup): Promise<string[]> {
  if (isIP(host)) return [host]
  try {
    return await resolve(host)
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).message
    throw new BindError(
      `HOST=${host} does not resolve to an address (${code}): give an IP address or a name that resolves`,
    )
  }
}

/**
 * What is wrong with serving these rules on these addresses, one line per published key in force;
 * empty when every address is loopback. The message names the key id (never the key) and how to make
 * a real one.
 */
export function bindProblems(bind: { host: string; addresses: readonly string[] }, rules: Rules): string[] {
  const exposed = exposedAddresses(bind.addresses)
  if (exposed.length === 0) return []
  const where = exposed.length === 1 && exposed[0] === bind.host ? '' : ` (${exposed.join(', ')})`
  return rules.config.apiKeys.flatMap((key) => {
    const published = PUBLISHED_HASHES.get(key.sha256)
    if (!published) return []
    return [
      `apiKeys id "${key.id}": its key "${published}" is published with Tickbridge, so it must not be in ` +
        `force while HOST=${bind.host}${where} lets other machines connect. Make a real key ` +
        '(KEY=$(openssl rand -hex 32); printf %s "$KEY" | npm run -s tickbridge -- key hash), put that hash in the ' +
        'rules in place of this one, or set HOST=127.0.0.1.',
    ]
  })
}
