// The inspection API: what WhatsApp (and so a customer's phone) shows, derived from what the box recorded.
import type { AppStateServer } from './app-state.js'
import type { Customer } from './people.js'
import type { Phone, PhoneChatState } from './phone.js'
import type { ReceiptRecord, Records } from './records.js'

export class Inspect {
  constructor(
    private readonly records: Records,
    private readonly appState: AppStateServer,
    private readonly phone: Phone,
  ) {}

  /** What the phone shows for the customer's chat in the app state (archived, marked read/unread). */
  async appStateOf(customer: Customer): Promise<PhoneChatState> {
    const states = await this.phone.chatStates()
    return { ...states.get(customer.pnJid), ...states.get(customer.lidJid) }
  }

  /** The versions of the app-state collections of our account (what a resync from 0 returns). */
  appStateVersions(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const name of ['critical_block', 'critical_unblock_low', 'regular_high', 'regular', 'regular_low']) {
      out[name] = this.appState.version(this.phone.account, name)
    }
    return out
  }

  /** Every receipt our devices sent into the customer's chat (addressed to the LID or the number). */
  receiptsTo(customer: Customer): ReceiptRecord[] {
    return this.records.receipts.filter((r) => r.to === customer.lidJid || r.to === customer.pnJid)
  }

  /**
   * The messages the customer sees with blue ticks, and since when: a `read` receipt (not `read-self`,
   * which `Socket/messages-send` `readMessages` sends when our read receipts are off and which shows the
   * customer nothing).
   */
  blueTicks(customer: Customer): Map<string, number> {
    const ticks = new Map<string, number>()
    for (const r of this.receiptsTo(customer)) {
      if (r.type !== 'read') continue
      for (const id of r.ids) if (!ticks.has(id)) ticks.set(id, r.at)
    }
    return ticks
  }

  /**
   * What the phone shows for the customer's chat: how many of the customer's messages came after the
   * last one read on any of our devices (a `read`/`read-self` receipt, from a companion or the phone).
   */
  chat(customer: Customer): { unreadCount: number; lastReadId: string | undefined } {
    const read = new Set(
      this.receiptsTo(customer)
        .filter((r) => r.type === 'read' || r.type === 'read-self')
        .flatMap((r) => r.ids),
    )
    let lastRead = -1
    customer.sent.forEach((m, i) => {
      if (read.has(m.id)) lastRead = i
    })
    return { unreadCount: customer.sent.length - lastRead - 1, lastReadId: customer.sent[lastRead]?.id }
  }

  /** Messages our device confirmed it received (delivery receipts: no type, or `inactive`). */
  delivered(customer: Customer): Set<string> {
    const ids = new Set<string>()
    for (const r of this.receiptsTo(customer)) {
      if (r.type === undefined || r.type === 'inactive') for (const id of r.ids) ids.add(id)
    }
    return ids
  }

  /** Messages our device could not decrypt and asked the sender to resend (`type=retry`). */
  retries(customer: Customer): string[] {
    return this.receiptsTo(customer)
      .filter((r) => r.type === 'retry')
      .flatMap((r) => r.ids)
  }
}
