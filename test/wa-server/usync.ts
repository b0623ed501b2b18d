// `<iq xmlns=usync>`: who is on WhatsApp, their LID, their devices. Built by `Socket/socket`
// `executeUSyncQuery` (`<usync><query>` one child per protocol, `<list><user jid|<contact>phone>`) and read
// by `WAUSync/USyncQuery` `parseUSyncQueryResult` (`<usync><list><user jid>` with one child per protocol,
// each parsed by `WAUSync/Protocols/*` `parser`).
import { type BinaryNode, jidDecode } from '@whiskeysockets/baileys'
import type { Account, AccountRegistry } from './accounts.js'
import type { IqHandler } from './iq.js'
import { bytes, child, children, iqResult } from './stanzas.js'

function answerFor(account: Account | undefined, protocol: string): BinaryNode | undefined {
  switch (protocol) {
    // `UsyncLIDProtocol` parser: <lid val=…@lid/>
    case 'lid':
      return account ? { tag: 'lid', attrs: { val: `${account.lid}@lid` } } : { tag: 'lid', attrs: {} }
    // `USyncContactProtocol` parser: <contact type=in|out/>
    case 'contact':
      return { tag: 'contact', attrs: { type: account ? 'in' : 'out' } }
    // `USyncDeviceProtocol` parser: <devices><device-list><device id key-index/></device-list><key-index-list ts/>
    case 'devices': {
      const devices = account ? [...account.devices.values()].filter((d) => d.id === 0 || d.noiseKey) : []
      return {
        tag: 'devices',
        attrs: {},
        content: [
          {
            tag: 'device-list',
            attrs: {},
            content: devices.map((d) => ({
              tag: 'device',
              attrs: { id: String(d.id), ...(d.id ? { 'key-index': String(d.id) } : {}) },
            })),
          },
          { tag: 'key-index-list', attrs: { ts: String(Math.floor(Date.now() / 1000)) } },
        ],
      }
    }
    default:
      return undefined
  }
}

export function usyncHandler(registry: AccountRegistry): IqHandler {
  return (_ctx, iq) => {
    if (iq.attrs.xmlns !== 'usync') return undefined
    const usync = child(iq, 'usync')
    const protocols = children(child(usync, 'query')).map((p) => p.tag)
    const users = children(child(usync, 'list')).map((user) => {
      const phone = bytes(child(user, 'contact'))?.toString('utf8')
      const decoded = user.attrs.jid ? jidDecode(user.attrs.jid) : undefined
      const account = phone
        ? registry.find(phone.replace(/^\+/, ''))
        : decoded?.server === 'lid'
          ? registry.byLid(decoded.user)
          : decoded
            ? registry.find(decoded.user)
            : undefined
      const jid = user.attrs.jid ?? `${phone?.replace(/^\+/, '')}@s.whatsapp.net`
      const content = protocols.map((p) => answerFor(account, p)).filter((n): n is BinaryNode => !!n)
      return { tag: 'user', attrs: { jid }, content }
    })
    return iqResult(iq, [
      {
        tag: 'usync',
        attrs: {
          sid: usync?.attrs.sid ?? '',
          mode: usync?.attrs.mode ?? 'query',
          context: usync?.attrs.context ?? '',
        },
        content: [{ tag: 'list', attrs: {}, content: users }],
      },
    ])
  }
}
