// What WhatsApp's server saw from our devices, for tests to inspect: every stanza by tag, receipts and
// acks per message id, presences, and the IQs the box does not model.
import type { BinaryNode } from '@whiskeysockets/baileys'

export interface ReceiptRecord {
  /** The device that sent the receipt. */
  fromDevice: string
  /** `to` of the receipt: the chat (customer or group). */
  to: string
  participant: string | undefined
  /** `recipient`: set when our phone/another device reads a message of a chat (read-self, etc.). */
  recipient: string | undefined
  /** undefined = delivery; 'read', 'read-self', 'retry', 'sender', 'inactive', 'played', ... */
  type: string | undefined
  ids: string[]
  at: number
  node: BinaryNode
}

export interface AckRecord {
  fromDevice: string
  id: string
  class: string
  to: string | undefined
  at: number
}

export interface PresenceRecord {
  fromDevice: string
  type: string | undefined
  name: string | undefined
  at: number
}

export class Records {
  private readonly watchers = new Set<() => void>()

  /** Tells the waiters something was recorded (the box calls it after each stanza it handled). */
  changed(): void {
    for (const w of [...this.watchers]) w()
  }

  /** Resolves with the first truthy value of `check`, re-checked after each recorded stanza. */
  waitFor<T>(check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
    const first = check()
    if (first) return Promise.resolve(first)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.watchers.delete(watcher)
        reject(new Error(`box records: condition not met in ${timeoutMs} ms`))
      }, timeoutMs)
      const watcher = () => {
        const v = check()
        if (!v) return
        clearTimeout(timer)
        this.watchers.delete(watcher)
        resolve(v)
      }
      this.watchers.add(watcher)
    })
  }

  /** The xmlns of every IQ a device sent. */
  iqNamespaces(): string[] {
    return this.stanzas.filter((s) => s.node.tag === 'iq').map((s) => s.node.attrs.xmlns ?? '')
  }

  readonly receipts: ReceiptRecord[] = []
  readonly acks: AckRecord[] = []
  readonly presences: PresenceRecord[] = []
  readonly chatStates: Array<{ fromDevice: string; to: string; state: string; at: number }> = []
  readonly unmodelledIqs: BinaryNode[] = []
  /** Errors of the box itself while handling a client's frames (should stay empty). */
  readonly boxErrors: unknown[] = []
  readonly stanzas: Array<{ fromDevice: string; node: BinaryNode; at: number }> = []

  /** The ids listed by a `<receipt>` (`Socket/messages-send` `sendReceipt`: `id` + `<list><item id/></list>`). */
  static receiptIds(node: BinaryNode): string[] {
    const ids = node.attrs.id ? [node.attrs.id] : []
    const list = Array.isArray(node.content) ? node.content.find((c) => c.tag === 'list') : undefined
    if (list && Array.isArray(list.content)) {
      for (const item of list.content) if (item.tag === 'item' && item.attrs.id) ids.push(item.attrs.id)
    }
    return ids
  }
}
