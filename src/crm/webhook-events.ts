import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Ingestor } from '../inbox/ingest.js'
import type { Keys } from '../keys.js'
import type { Metrics } from '../metrics.js'
import type { Rules } from '../rules/compile.js'
import type { CrmDirtySet } from './crm-sync.js'
import type { HubSpotCrm } from './hubspot/hubspot-crm.js'
import { applyFromHubSpot } from './origin.js'
import type { UnmatchedChats } from './unmatched.js'

/** One event of a HubSpot webhook batch (Webhooks API, "Webhook payloads"), as far as we use it. */
export interface HubSpotEvent {
  eventId?: number | string
  portalId?: number
  subscriptionType: string
  objectId: string
  propertyName?: string
  propertyValue?: string
  occurredAt?: number
  changeSource?: string
  attemptNumber?: number
  mergedObjectIds?: string[]
  newObjectId?: string
  primaryObjectId?: string
}

/** Search lags writes by seconds: a chat waiting for a contact created just now is tried this much later. */
const AFTER_CHANGE_MS = 5000
const EVENT_ID_TTL_S = 3 * 24 * 3600
const LAST_SEEN_TTL_S = 7 * 24 * 3600

// KEYS[1] = last occurredAt of one object+property. ARGV[1] = this event's occurredAt.
// Returns 1 (newer or equal: apply, recorded) or 0 (older than one already applied: drop).
const NEWER = `
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
local at = tonumber(ARGV[1])
if at < last then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
`

const PHONE_PROPERTIES = new Set(['phone', 'mobilephone', 'hs_whatsapp_phone_number', 'country'])

type Outcome = 'applied' | 'echo' | 'duplicate' | 'stale' | 'ignored' | 'other_portal'

/**
 * Applies HubSpot's webhook events. HubSpot delivers at least once (retries carry `attemptNumber`) and
 * not in order: each event (portal, id, type, object, property, time) is applied once, events of
 * another portal are refused, and per object and property an event older
 * (`occurredAt`) than one already applied is dropped. Our own writes come back as property changes:
 * an echo changes nothing. Creation, phone changes, merges and deletions invalidate the phone cache
 * and send waiting (unmatched) chats to be looked up again.
 */
export class HubSpotEvents {
  constructor(
    private readonly deps: {
      redis: Redis
      keys: Keys
      crm: HubSpotCrm
      dirty: CrmDirtySet
      unmatched: UnmatchedChats
      ingestor: Ingestor
      rules: () => Rules
      clock: Clock
      metrics: Metrics
      log: Logger
    },
  ) {
    if (!('tbHubSpotNewer' in deps.redis))
      deps.redis.defineCommand('tbHubSpotNewer', { numberOfKeys: 1, lua: NEWER })
  }

  async applyAll(events: HubSpotEvent[]): Promise<{ applied: number; outcomes: Outcome[] }> {
    // In one batch, apply in occurrence order (HubSpot does not keep it).
    const sorted = [...events].sort((a, b) => (a.occurredAt ?? 0) - (b.occurredAt ?? 0))
    const outcomes: Outcome[] = []
    // Our portal (the token's account): an app's secret signs the events of every portal it is installed
    // in, so a signed event of another portal is refused. Unknown (HubSpot not answering): applied.
    const portal = sorted.some((e) => e.portalId !== undefined) ? await this.deps.crm.portalId() : null
    for (const e of sorted) {
      const foreign = portal !== null && e.portalId !== undefined && e.portalId !== portal
      if (foreign)
        this.deps.log.warn({ portalId: e.portalId, ours: portal }, 'HubSpot event of another portal refused')
      const outcome = foreign ? 'other_portal' : await this.applyOnce(e)
      this.deps.metrics.crmWebhookEvents.inc({ type: e.subscriptionType, outcome })
      outcomes.push(outcome)
    }
    return { applied: outcomes.filter((o) => o === 'applied').length, outcomes }
  }

  private async applyOnce(e: HubSpotEvent): Promise<Outcome> {
    const { redis, keys } = this.deps
    // HubSpot does not promise unique event ids (webhooks guide): an event is its portal, id, type,
    // object, property and time together.
    const identity = [e.portalId, e.eventId, e.subscriptionType, e.objectId, e.propertyName, e.occurredAt]
    const idKey =
      e.eventId === undefined ? null : keys.global(`crm:hook-event:${identity.map((v) => v ?? '').join(':')}`)
    if (idKey && (await redis.set(idKey, '1', 'EX', EVENT_ID_TTL_S, 'NX')) === null) return 'duplicate'
    try {
      return await this.apply(e)
    } catch (err) {
      // Not applied: HubSpot's retry must be able to apply it.
      if (idKey) await redis.del(idKey)
      throw err
    }
  }

  private async newer(e: HubSpotEvent, property: string): Promise<boolean> {
    if (e.occurredAt === undefined) return true
    const key = this.deps.keys.global(`crm:hook-at:${e.objectId}:${property}`)
    const run = (
      this.deps.redis as Redis & { tbHubSpotNewer: (...a: Array<string | number>) => Promise<number> }
    ).tbHubSpotNewer
    return (await run.call(this.deps.redis, key, e.occurredAt, LAST_SEEN_TTL_S)) === 1
  }

  private async apply(e: HubSpotEvent): Promise<Outcome> {
    const { crm } = this.deps
    switch (e.subscriptionType) {
      case 'contact.creation':
        await this.contactsChanged([])
        return 'applied'
      case 'contact.deletion':
        if (!(await this.newer(e, '__object'))) return 'stale'
        await this.contactsChanged([e.objectId])
        return 'applied'
      case 'contact.merge':
        await this.contactsChanged([
          e.objectId,
          ...(e.primaryObjectId ? [e.primaryObjectId] : []),
          ...(e.mergedObjectIds ?? []),
        ])
        return 'applied'
      case 'contact.propertyChange':
        break
      default:
        return 'ignored'
    }
    const name = e.propertyName ?? ''
    const value = e.propertyValue ?? ''
    if (!(await this.newer(e, name))) return 'stale'
    if (PHONE_PROPERTIES.has(name)) {
      await this.contactsChanged([e.objectId])
      return 'applied'
    }
    if (name !== 'hubspot_owner_id' && name !== 'wa_no_reply_needed') return 'ignored'
    const echo = await crm.isEcho({
      objectId: e.objectId,
      propertyName: name,
      propertyValue: value,
      occurredAt: e.occurredAt ?? this.deps.clock.now(),
      ...(e.changeSource ? { changeSource: e.changeSource } : {}),
    })
    if (echo) return 'echo'
    if (name === 'hubspot_owner_id') await crm.rememberOwners([[e.objectId, value]])
    const chats = await crm.chatsOf(e.objectId)
    let applied = false
    for (const chat of chats) {
      const hubspot = crm.hubspotOf(chat.sessionId)
      if (name === 'hubspot_owner_id') {
        // Only when HubSpot is the owner's source of truth (the org's `hubspot.owner`, default).
        if ((hubspot?.owner ?? 'hubspot') !== 'hubspot') continue
        const rules = this.deps.rules()
        const org = rules.sessions.get(chat.sessionId)?.org
        const user = [...rules.users.values()].find((u) => u.org === org && u.hubspotOwnerId === value)
        if (!user && value) await crm.logUnknownOwnerOnce(value, { contactId: e.objectId, org })
        await applyFromHubSpot(() =>
          this.deps.ingestor.ingest({
            type: 'chat.owner',
            sessionId: chat.sessionId,
            chatJid: chat.chatJid,
            owner: user?.id ?? null,
          }),
        )
        applied = true
      } else if (value === 'true') {
        await applyFromHubSpot(() =>
          this.deps.ingestor.ingest({
            type: 'chat.noReplyNeeded',
            sessionId: chat.sessionId,
            chatJid: chat.chatJid,
            at: e.occurredAt ?? this.deps.clock.now(),
          }),
        )
        applied = true
      }
    }
    // Written back to false by the next sync, so it can be ticked again.
    if (applied && name === 'wa_no_reply_needed') {
      await crm.noReplyApplied(e.objectId)
      for (const chat of chats) await this.deps.dirty.mark(chat.sessionId, chat.chatJid, 0)
    }
    return applied ? 'applied' : 'ignored'
  }

  /**
   * Contacts were created, renumbered, merged or deleted: their cached phones and links go, every
   * cached miss goes, and the chats they held plus every unmatched chat are looked up again soon.
   */
  private async contactsChanged(contactIds: string[]): Promise<void> {
    const { crm, dirty, unmatched } = this.deps
    const members: string[] = []
    for (const id of contactIds) {
      for (const c of await crm.forgetContact(id)) members.push(`${c.sessionId}|${c.chatJid}`)
    }
    await crm.cache.forgetMisses()
    for (const u of await unmatched.all()) members.push(u.member)
    await dirty.soon([...new Set(members)], AFTER_CHANGE_MS)
  }
}
