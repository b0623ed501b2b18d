// Small builders for the server's stanzas, shared by the box's modules.
import type { BinaryNode } from '@whiskeysockets/baileys'

/** The server's own jid as it appears in `from`/`to` attributes. */
export const SERVER = 's.whatsapp.net'

export function iqResult(request: BinaryNode, content?: BinaryNode[]): BinaryNode {
  return {
    tag: 'iq',
    attrs: { from: request.attrs.to ?? SERVER, type: 'result', id: request.attrs.id ?? '' },
    ...(content ? { content } : {}),
  }
}

/** An IQ error; Baileys' `query` throws it as a Boom (`WABinary/generic-utils` `assertNodeErrorFree`). */
export function iqError(request: BinaryNode, code: number, text: string): BinaryNode {
  return iqResult(request, [{ tag: 'error', attrs: { code: String(code), text } }])
}

export function children(node: BinaryNode | undefined): BinaryNode[] {
  return Array.isArray(node?.content) ? node.content : []
}

export function bytes(node: BinaryNode | undefined): Buffer | undefined {
  const c = node?.content
  if (c instanceof Uint8Array) return Buffer.from(c)
  if (typeof c === 'string') return Buffer.from(c, 'utf8')
  return undefined
}

export function child(node: BinaryNode | undefined, tag: string): BinaryNode | undefined {
  return children(node).find((c) => c.tag === tag)
}

export function uintBE(buf: Buffer | undefined): number | undefined {
  if (!buf?.length) return undefined
  let n = 0
  for (const b of buf) n = n * 256 + b
  return n
}

let stanzaCounter = 0
/** A server-generated stanza id. */
export function serverStanzaId(): string {
  stanzaCounter += 1
  return `box.${Date.now().toString(36)}.${stanzaCounter}`
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}
