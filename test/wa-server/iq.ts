// The IQs a logged-in Baileys socket sends, answered as WhatsApp's server does. Each handler names the
// Baileys function that builds the request and parses the answer.
import type { BinaryNode } from '@whiskeysockets/baileys'
import type { Device } from './accounts.js'
import { bytes, child, children, iqError, iqResult, uintBE } from './stanzas.js'

export interface IqContext {
  device: Device
  /** The device sent `passive active`: the server may now deliver what it queued (./box.ts). */
  onActive(): void
  /** The device asked to remove itself (`Socket/socket` `logout`). */
  onLogout(): void
  /** Handlers from other modules (usync, app state, pre-key fetch), tried after the built-in ones. */
  extra: IqHandler[]
}

/** Answers an IQ, or returns undefined if it is not this handler's. */
export type IqHandler = (
  ctx: IqContext,
  iq: BinaryNode,
) => BinaryNode | undefined | Promise<BinaryNode | undefined>

const handlers: IqHandler[] = [
  // `Socket/socket` `getAvailablePreKeysOnServer`: <iq xmlns=encrypt type=get><count/></iq> → <count value=N/>
  (ctx, iq) => {
    if (iq.attrs.xmlns !== 'encrypt' || iq.attrs.type !== 'get' || !child(iq, 'count')) return undefined
    return iqResult(iq, [{ tag: 'count', attrs: { value: String(ctx.device.preKeys.size) } }])
  },
  // `Utils/signal` `getNextPreKeysNode` (sent by `uploadPreKeys`): registration, type, identity, list of
  // <key><id/><value/></key>, <skey><id/><value/><signature/></skey>. The server keeps them to hand out
  // to senders (`messages-send` `assertSessions` fetches them back).
  (ctx, iq) => {
    if (iq.attrs.xmlns !== 'encrypt' || iq.attrs.type !== 'set' || !child(iq, 'list')) return undefined
    const d = ctx.device
    d.registrationId = uintBE(bytes(child(iq, 'registration')))
    d.identityKey = bytes(child(iq, 'identity'))
    for (const key of children(child(iq, 'list'))) {
      const id = uintBE(bytes(child(key, 'id')))
      const value = bytes(child(key, 'value'))
      if (id !== undefined && value) d.preKeys.set(id, value)
    }
    const skey = child(iq, 'skey')
    const keyId = uintBE(bytes(child(skey, 'id')))
    const publicKey = bytes(child(skey, 'value'))
    const signature = bytes(child(skey, 'signature'))
    if (keyId !== undefined && publicKey && signature) d.signedPreKey = { keyId, publicKey, signature }
    return iqResult(iq)
  },
  // `Socket/socket` `digestKeyBundle`: <iq xmlns=encrypt type=get><digest/></iq>; Baileys only needs a
  // <digest> child back (without one it re-uploads). WhatsApp's carries the key bundle's hash.
  (ctx, iq) => {
    if (iq.attrs.xmlns !== 'encrypt' || iq.attrs.type !== 'get' || !child(iq, 'digest')) return undefined
    const d = ctx.device
    return iqResult(iq, [
      {
        tag: 'digest',
        attrs: {},
        content: [
          { tag: 'type', attrs: {}, content: Buffer.from([5]) },
          { tag: 'identity', attrs: {}, content: d.identityKey ?? Buffer.alloc(32) },
        ],
      },
    ])
  },
  // `Socket/socket` `rotateSignedPreKey`: <iq xmlns=encrypt type=set><rotate><skey/></rotate></iq>
  (ctx, iq) => {
    const rotate = child(iq, 'rotate')
    if (iq.attrs.xmlns !== 'encrypt' || !rotate) return undefined
    const skey = child(rotate, 'skey')
    const keyId = uintBE(bytes(child(skey, 'id')))
    const publicKey = bytes(child(skey, 'value'))
    const signature = bytes(child(skey, 'signature'))
    if (keyId !== undefined && publicKey && signature)
      ctx.device.signedPreKey = { keyId, publicKey, signature }
    return iqResult(iq)
  },
  // `Socket/socket` `sendPassiveIq('active')` in `CB:success`: the login node said `passive: true`
  // (`Utils/validate-connection` `generateLoginNode`), so the server holds offline stanzas until this.
  (ctx, iq) => {
    if (iq.attrs.xmlns !== 'passive') return undefined
    if (child(iq, 'active')) queueMicrotask(() => ctx.onActive())
    return iqResult(iq)
  },
  // `Socket/socket` `startKeepAliveRequest`: <iq xmlns=w:p type=get><ping/></iq> → empty result
  (_ctx, iq) => (iq.attrs.xmlns === 'w:p' ? iqResult(iq) : undefined),
  // `Socket/chats` `fetchProps`: <iq xmlns=abt><props protocol=1/></iq> → <props hash><prop name value/></props>
  // (read with `reduceBinaryNodeToDictionary(propsNode, 'prop')`).
  (_ctx, iq) => {
    if (iq.attrs.xmlns !== 'abt') return undefined
    return iqResult(iq, [
      {
        tag: 'props',
        attrs: { protocol: '1', hash: 'wa-box-props-1' },
        content: [
          { tag: 'prop', attrs: { name: 'privacy_token_sending_on_all_1_on_1_messages', value: 'false' } },
        ],
      },
    ])
  },
  // `Socket/chats` `fetchBlocklist`: <iq xmlns=blocklist type=get/> → <list><item jid/></list>
  (ctx, iq) => {
    if (iq.attrs.xmlns !== 'blocklist' || iq.attrs.type !== 'get') return undefined
    const items = ctx.device.account.blocklist.map((jid) => ({ tag: 'item', attrs: { jid } }))
    return iqResult(iq, [{ tag: 'list', attrs: {}, content: items }])
  },
  // `Socket/chats` `fetchPrivacySettings`: <privacy><category name value/></privacy>
  // (read with `reduceBinaryNodeToDictionary(content[0], 'category')`); `privacyQuery` sets one.
  (ctx, iq) => {
    if (iq.attrs.xmlns !== 'privacy') return undefined
    const privacy = ctx.device.account.privacy
    if (iq.attrs.type === 'set') {
      for (const c of children(child(iq, 'privacy'))) {
        if (c.attrs.name && c.attrs.value) privacy[c.attrs.name] = c.attrs.value
      }
      return iqResult(iq)
    }
    const categories = Object.entries(privacy).map(([name, value]) => ({
      tag: 'category',
      attrs: { name, value },
    }))
    return iqResult(iq, [{ tag: 'privacy', attrs: {}, content: categories }])
  },
  // `Socket/socket` `logout`: <iq xmlns=md type=set><remove-companion-device jid reason/></iq>
  (ctx, iq) => {
    if (iq.attrs.xmlns !== 'md' || !child(iq, 'remove-companion-device')) return undefined
    queueMicrotask(() => ctx.onLogout())
    return iqResult(iq)
  },
  // `Socket/chats` `cleanDirtyBits` (sent with sendNode, not awaited) and `Socket/socket` `sendWAMBuffer`.
  (_ctx, iq) =>
    iq.attrs.xmlns === 'urn:xmpp:whatsapp:dirty' || iq.attrs.xmlns === 'w:stats' ? iqResult(iq) : undefined,
]

/**
 * The answer to an IQ from a device. An IQ the box does not model gets an `<error code=501>` (the box's
 * choice, not a claim about WhatsApp: a missing model then shows up as a failing query, never as a silent
 * success), and the box records it (`inspect.unmodelledIqs()`).
 */
export async function answerIq(
  ctx: IqContext,
  iq: BinaryNode,
): Promise<{ answer: BinaryNode; modelled: boolean }> {
  for (const handler of [...handlers, ...ctx.extra]) {
    const answer = await handler(ctx, iq)
    if (answer) return { answer, modelled: true }
  }
  return { answer: iqError(iq, 501, 'feature-not-implemented'), modelled: false }
}
