// WhatsApp in a box: a local stand-in for web.whatsapp.com that the REAL `makeWASocket` of Baileys connects
// to (`waWebSocketUrl`). The socket, its event buffer, decryption, receipts and app-state sync are Baileys'
// own code; only this server is ours. See docs/wa-box.md for what it models and the source of each behaviour.
import type { AddressInfo } from 'node:net'
import { type BinaryNode, Curve, type KeyPair, type proto } from '@whiskeysockets/baileys'
import { WebSocketServer } from 'ws'
import { type Account, AccountRegistry, type Device } from './accounts.js'
import { AppStateServer } from './app-state.js'
import { buildCertChain } from './certificates.js'
import { FaultPlan, faultStanza, type PlannedFault, type StreamFault } from './faults.js'
import { Inspect } from './inspect.js'
import { answerIq, type IqHandler } from './iq.js'
import { Customers } from './people.js'
import { Phone } from './phone.js'
import { Records } from './records.js'
import { nowSeconds, SERVER, serverStanzaId } from './stanzas.js'
import { usyncHandler } from './usync.js'
import { Wire } from './wire.js'

/** A node handler another module adds (people, app state): returns true if it took the stanza. */
export type StanzaHandler = (device: Device, node: BinaryNode) => boolean | Promise<boolean>

export interface BoxOptions {
  /** Our account's phone number (the number companions link to). */
  phone?: string
  pushName?: string
}

/** The server's state and its sending side, shared by the box's modules. */
export class BoxCore {
  readonly registry = new AccountRegistry()
  readonly faults = new FaultPlan()
  readonly records = new Records()
  readonly appState = new AppStateServer()
  readonly serverStatic: KeyPair = Curve.generateKeyPair()
  readonly certChain = buildCertChain(this.serverStatic, nowSeconds())
  readonly iqHandlers: IqHandler[] = [this.appState.iqHandler, usyncHandler(this.registry)]
  readonly stanzaHandlers: StanzaHandler[] = []
  /** Registration sockets waiting for the phone to scan (ref → wire + the companion's payload). */
  readonly pendingPairings = new Map<string, { wire: Wire; payload: proto.ClientPayload }>()
  /** Devices whose next `after-open` fault is armed (wire id → fault). */
  readonly armedAfterOpen = new Map<number, StreamFault>()
  private readonly devicesByWire = new Map<number, Device>()
  private readonly awaitingReplies = new Map<string, (node: BinaryNode) => void>()

  /** Sends a server IQ to a socket and resolves with the client's `result` (or `error`) for its id. */
  query(wire: Wire, iq: BinaryNode, timeoutMs = 10_000): Promise<BinaryNode> {
    const id = iq.attrs.id ?? serverStanzaId()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.awaitingReplies.delete(id)
        reject(new Error(`box: no reply to server iq ${id}`))
      }, timeoutMs)
      this.awaitingReplies.set(id, (node) => {
        clearTimeout(timer)
        resolve(node)
      })
      this.send(wire, { ...iq, attrs: { ...iq.attrs, id } })
    })
  }

  /** A client's answer to a server IQ; true if someone was waiting for it. */
  onReply(node: BinaryNode): boolean {
    const waiter = this.awaitingReplies.get(node.attrs.id ?? '')
    if (!waiter) return false
    this.awaitingReplies.delete(node.attrs.id ?? '')
    waiter(node)
    return true
  }

  /** Sends a stanza to a device now or, if it is offline, queues it for its next login. */
  deliver(device: Device, node: BinaryNode): void {
    if (device.wire && !device.wire.closed) this.send(device.wire, node)
    else device.offline.push(node)
  }

  send(wire: Wire, node: BinaryNode): void {
    const delay = this.faults.delayMs
    if (delay > 0) setTimeout(() => wire.send(node), delay)
    else wire.send(node)
  }

  /** Ends a socket with a fault stanza, then closes it as the server does after a stream error. */
  strike(wire: Wire, fault: StreamFault): void {
    const stanza = faultStanza(fault)
    if (stanza) wire.send(stanza)
    // the client ends on the stanza itself; closing the WebSocket too keeps the box from holding it
    setImmediate(() => wire.close())
  }

  attach(wire: Wire, device: Device): void {
    const previous = device.wire
    if (previous && previous !== wire && !previous.closed) {
      // One socket per device: the older one is told it was replaced (440 in Baileys).
      this.strike(previous, { kind: 'conflict' })
    }
    device.wire = wire
    this.devicesByWire.set(wire.id, device)
  }

  detach(wire: Wire): void {
    const device = this.devicesByWire.get(wire.id)
    this.devicesByWire.delete(wire.id)
    this.armedAfterOpen.delete(wire.id)
    if (device?.wire === wire) device.wire = undefined
    for (const [ref, p] of this.pendingPairings) if (p.wire === wire) this.pendingPairings.delete(ref)
  }

  deviceOf(wire: Wire): Device | undefined {
    return this.devicesByWire.get(wire.id)
  }
}

export interface Box {
  /** The `waWebSocketUrl` to give Baileys. */
  url: string
  /** Our account (the phone the companions link to). */
  account: Account
  phone: Phone
  customers: Customers
  inspect: Inspect
  faults: FaultPlan
  records: Records
  core: BoxCore
  close(): Promise<void>
}

export async function startBox(options: BoxOptions = {}): Promise<Box> {
  const core = new BoxCore()
  const account = core.registry.account(options.phone ?? '4915550000001', options.pushName ?? 'Box Business')
  const phone = new Phone(core, account)
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))

  wss.on('connection', (ws) => {
    new Wire(ws, core.serverStatic, core.certChain, {
      onLogin: (wire, payload, noiseKey) => onLogin(core, wire, payload, noiseKey),
      onNode: (wire, node) => onNode(core, phone, wire, node),
      onClose: (wire) => core.detach(wire),
      onError: (_wire, err) => core.records.boxErrors.push(err),
    })
  })

  const { port } = wss.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}/ws/chat`,
    account,
    phone,
    customers: new Customers(core, account),
    inspect: new Inspect(core.records, core.appState, phone),
    faults: core.faults,
    records: core.records,
    core,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    },
  }
}

/**
 * The handshake is done; the `ClientPayload` says login or registration
 * (`Utils/validate-connection` `generateLoginNode` / `generateRegistrationNode`).
 */
function onLogin(core: BoxCore, wire: Wire, payload: proto.ClientPayload, noiseKey: Buffer): void {
  if (payload.devicePairingData) {
    // A new companion: `Socket/socket` `CB:iq,type:set,pair-device` answers the IQ and shows one QR per
    // <ref> (the first for 60 s, the next ones for 20 s each; when refs run out: 408 "QR refs attempts ended").
    const refs = Array.from({ length: 6 }, () => `box-ref-${serverStanzaId()}`)
    for (const ref of refs) core.pendingPairings.set(ref, { wire, payload })
    core.send(wire, {
      tag: 'iq',
      attrs: { from: SERVER, type: 'set', id: serverStanzaId(), xmlns: 'md' },
      content: [
        {
          tag: 'pair-device',
          attrs: {},
          content: refs.map((ref) => ({ tag: 'ref', attrs: {}, content: Buffer.from(ref) })),
        },
      ],
    })
    return
  }
  const phone = payload.username != null ? String(payload.username) : ''
  const device = core.registry.find(phone)?.devices.get(payload.device ?? 0)
  const planned: PlannedFault | undefined = core.faults.takeLoginFault()
  if (!device?.noiseKey?.equals(noiseKey)) {
    // Unknown device or wrong noise key: the device is not linked (any more) → `<failure reason=401>`.
    core.strike(wire, { kind: 'failure', reason: 401 })
    return
  }
  if (planned?.when === 'at-login') {
    core.strike(wire, planned.fault)
    return
  }
  core.attach(wire, device)
  if (planned?.when === 'after-open') core.armedAfterOpen.set(wire.id, planned.fault)
  // `Socket/socket` `CB:success`: reads `t` (server time offset) and `lid` (stored as `creds.me.lid`).
  core.send(wire, {
    tag: 'success',
    attrs: {
      t: String(nowSeconds()),
      lid: device.lidJid,
      location: 'box',
      props: '1',
      creation: String(nowSeconds()),
    },
  })
}

/** Delivers what was queued while the device was away, then `<ib><offline count/></ib>`
 * (`Socket/socket` `CB:ib,,offline` flushes Baileys' event buffer and emits `receivedPendingNotifications`). */
function deliverOffline(core: BoxCore, device: Device): void {
  const wire = device.wire
  if (!wire) return
  const queued = device.offline.splice(0)
  for (const node of queued) core.send(wire, { ...node, attrs: { ...node.attrs, offline: '1' } })
  core.send(wire, {
    tag: 'ib',
    attrs: {},
    content: [{ tag: 'offline', attrs: { count: String(queued.length) } }],
  })
}

async function onNode(core: BoxCore, phone: Phone, wire: Wire, node: BinaryNode): Promise<void> {
  try {
    await handleNode(core, phone, wire, node)
  } finally {
    core.records.changed()
  }
}

async function handleNode(core: BoxCore, phone: Phone, wire: Wire, node: BinaryNode): Promise<void> {
  const device = core.deviceOf(wire)
  const at = Date.now()
  if (node.tag === 'iq' && (node.attrs.type === 'result' || node.attrs.type === 'error')) {
    // an answer to a server IQ (pair-device, pair-success, ...)
    core.onReply(node)
    return
  }
  if (!device) return
  core.records.stanzas.push({ fromDevice: device.jid, node, at })
  switch (node.tag) {
    case 'iq': {
      if (core.faults.isSilenced(node)) return
      const { answer, modelled } = await answerIq(
        {
          device,
          extra: core.iqHandlers,
          onActive: () => {
            deliverOffline(core, device)
            // a newly linked device: the phone sends its initial history sync once it is active
            if (!device.historySynced) void phone.sendHistorySync(device).catch(() => {})
          },
          onLogout: () => {
            device.account.devices.delete(device.id)
            device.noiseKey = undefined
          },
        },
        node,
      )
      if (!modelled) core.records.unmodelledIqs.push(node)
      core.send(wire, answer)
      return
    }
    case 'ib': {
      // `Socket/socket` `sendUnifiedSession`, sent right after `connection: 'open'` in `CB:success`
      const fault = core.armedAfterOpen.get(wire.id)
      if (fault && Array.isArray(node.content) && node.content.some((c) => c.tag === 'unified_session')) {
        core.armedAfterOpen.delete(wire.id)
        core.strike(wire, fault)
      }
      return
    }
    case 'presence':
      // `Socket/chats` `sendPresenceUpdate('available'|'unavailable')`: <presence name type/>
      core.records.presences.push({
        fromDevice: device.jid,
        type: node.attrs.type,
        name: node.attrs.name,
        at,
      })
      return
    case 'chatstate': {
      // `sendPresenceUpdate('composing'|'recording'|'paused', jid)`: <chatstate to><composing/></chatstate>
      const state = Array.isArray(node.content) ? node.content[0]?.tag : undefined
      core.records.chatStates.push({
        fromDevice: device.jid,
        to: node.attrs.to ?? '',
        state: state ?? '',
        at,
      })
      return
    }
    case 'receipt':
      // `Socket/messages-send` `sendReceipt`: <receipt id to [participant] [recipient] [type] t><list/></receipt>
      core.records.receipts.push({
        fromDevice: device.jid,
        to: node.attrs.to ?? '',
        participant: node.attrs.participant,
        recipient: node.attrs.recipient,
        type: node.attrs.type,
        ids: Records.receiptIds(node),
        at,
        node,
      })
      break
    case 'ack':
      // `Utils/stanza-ack` `buildAckStanza` / `messages-recv` `sendMessageAck`: <ack id to class [type]/>
      core.records.acks.push({
        fromDevice: device.jid,
        id: node.attrs.id ?? '',
        class: node.attrs.class ?? '',
        to: node.attrs.to,
        at,
      })
      break
  }
  for (const handler of core.stanzaHandlers) if (await handler(device, node)) return
}
