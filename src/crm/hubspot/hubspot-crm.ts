import { createHash } from 'node:crypto'
import type { Client } from '@hubspot/api-client'
import type { Redis } from 'ioredis'
import { DateTime } from 'luxon'
import type { Logger } from 'pino'
import type { Clock } from '../../clock.js'
import type { Keys } from '../../keys.js'
import type { Rules } from '../../rules/compile.js'
import type { OrgHubSpot } from '../../rules/schema.js'
import type { CrmOutcome, CrmPort, CrmTaskInput } from '../port.js'
import type { HubSpotBudget } from './budget.js'
import { ContactCache } from './contact-cache.js'
import { classifyHubSpotError } from './errors.js'
import { LOOKUP_PROPERTIES, nationalDigits, storedNumberMatches } from './phone-match.js'

/** The property group's internal name stays `tickbridge` (existing portals have it); its label is new. */
export const PROPERTY_GROUP = 'tickbridge'
export const PROPERTY_GROUP_LABEL = 'WhatsApp (Tickbridge)'
/** The group label the first version created; any other label is an admin's and is kept. */
const FIRST_GROUP_LABEL = 'Tickbridge (WhatsApp)'

const option = (value: string, label: string, displayOrder: number, description?: string) => ({
  label,
  value,
  displayOrder,
  hidden: false,
  ...(description ? { description } : {}),
})

/** The contact properties Tickbridge writes; created on start when missing. */
export const CONTACT_PROPERTIES = [
  {
    name: 'wa_unanswered_count',
    label: 'WhatsApp: unanswered messages',
    description: 'Messages from the contact on WhatsApp since the team last answered (all our numbers).',
    type: 'number',
    fieldType: 'number',
  },
  {
    name: 'wa_awaiting_reply_since',
    label: 'WhatsApp: awaiting reply since',
    description: 'When the oldest unanswered WhatsApp message arrived; empty when nothing waits.',
    type: 'datetime',
    fieldType: 'date',
  },
  {
    name: 'wa_last_inbound_at',
    label: 'WhatsApp: last message from the contact',
    description: 'When the contact last wrote on WhatsApp.',
    type: 'datetime',
    fieldType: 'date',
  },
  {
    name: 'wa_last_outbound_at',
    label: 'WhatsApp: last message to the contact',
    description: 'When the team last wrote to the contact on WhatsApp (phone, WhatsApp Web, bot or CRM).',
    type: 'datetime',
    fieldType: 'date',
  },
  {
    name: 'wa_sla_state',
    label: 'WhatsApp: SLA state',
    description: 'Whether the reply is within the response-time policy, close to it, or late.',
    type: 'enumeration',
    fieldType: 'select',
    options: [
      option('ok', 'On time', 0, 'Answered, or waiting within the response time'),
      option('warning', 'Reply due soon', 1, 'An escalation level before the breach has fired'),
      option('breached', 'Reply overdue', 2, 'The response time has passed'),
    ],
  },
  {
    name: 'wa_no_reply_needed',
    label: 'WhatsApp: no reply needed',
    description:
      'Tick to mark the waiting WhatsApp messages as needing no answer; Tickbridge applies it and clears the box.',
    type: 'bool',
    fieldType: 'booleancheckbox',
    options: [option('true', 'Yes', 0), option('false', 'No', 1)],
  },
  {
    name: 'wa_business_number',
    label: 'WhatsApp: business number last used',
    description: 'The team’s WhatsApp number (session) the contact wrote to or was answered from last.',
    type: 'string',
    fieldType: 'text',
  },
  {
    name: 'wa_last_message_preview',
    label: 'WhatsApp: last message preview',
    description: 'The beginning of the last WhatsApp message in the conversation (either direction).',
    type: 'string',
    fieldType: 'textarea',
  },
] as const

/** Phones per search at most: 5 filter groups (HubSpot's maximum) with IN lists of this many values. */
const PHONES_PER_SEARCH = 25
/**
 * HubSpot's search body is limited to 3,000 characters (search guide, "Limitations"); a search is sized
 * by its encoded length, with room for the longest `after` of its pages.
 */
export const SEARCH_BODY_LIMIT = 3000 - 8
/** A write's echo may carry an `occurredAt` slightly before our clock's idea of the write. */
const ECHO_SKEW_MS = 60_000
/**
 * HubSpot sends a property change within seconds to minutes of the write; a change long after ours
 * that happens to carry a value we once wrote is somebody else's (another integration, an API user).
 */
export const ECHO_WINDOW_MS = 10 * 60_000
const ECHO_TTL_S = ECHO_WINDOW_MS / 1000
/** Change sources of HubSpot's property history that are people, workflows or imports, never our API writes. */
const NOT_AN_APP = new Set([
  'CRM_UI',
  'CRM_UI_BULK_ACTION',
  'MOBILE_IOS',
  'MOBILE_ANDROID',
  'WORKFLOWS',
  'AUTOMATION_PLATFORM',
  'IMPORT',
  'FORM',
  'SALES',
])

/** KEYS[1] = last occurredAt of one object+property; ARGV: 1 at, 2 ttl s. Keeps the later of the two. */
const SEEN_MAX = `
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > last then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return 1
`

/** A contact found for a number; `owner` is HubSpot's `hubspot_owner_id` ('' = none) when a search just read it. */
export interface ContactMatch {
  id: string
  owner?: string
}

const OWNER_TTL_S = 24 * 3600

export interface OwnerProblem {
  user: string
  hubspotOwnerId: string
  message: string
}

/**
 * HubSpot behind the CRM port: finds contacts by phone (batched OR searches over the searchable and
 * E.164 numbers, verified with libphonenumber, cached per entry), creates tasks for SLA levels, checks
 * the rules' owner ids, and owns the property setup. Every call takes a slot of the shared budget first;
 * calls made from jobs never wait for one (`BudgetBusy` is thrown instead).
 */
export class HubSpotCrm implements CrmPort {
  readonly enabled = true
  readonly cache: ContactCache
  /** Owner ids HubSpot knows (after `checkOwners`); null until checked. */
  private knownOwners: Set<string> | null = null

  constructor(
    private readonly deps: {
      client: Client
      budget: HubSpotBudget
      redis: Redis
      keys: Keys
      rules: () => Rules
      log: Logger
      clock: Clock
      /** For the account-info calls the client has no API for. */
      http: { baseUrl: string; token: string; timeoutMs: number }
    },
  ) {
    this.cache = new ContactCache(deps.redis, deps.keys, deps.clock)
    if (!('tbHubSpotSeen' in deps.redis))
      deps.redis.defineCommand('tbHubSpotSeen', { numberOfKeys: 1, lua: SEEN_MAX })
  }

  hubspotOf(sessionId: string): OrgHubSpot | undefined {
    const rules = this.deps.rules()
    const org = rules.sessions.get(sessionId)?.org
    return org ? rules.orgs.get(org)?.hubspot : undefined
  }

  /**
   * Creates the property group and properties that are missing (idempotent; 409 = already there). What
   * the first version created (the old group label, no descriptions, option labels equal to their
   * values) is brought up to date; a label, description or option label an admin edited is kept.
   */
  async ensureProperties(signal?: AbortSignal): Promise<{ created: string[] }> {
    const { client, budget } = this.deps
    const created: string[] = []
    await budget.take('general', signal)
    const groups = await client.crm.properties.groupsApi.getAll('contacts')
    const group = groups.results.find((g) => g.name === PROPERTY_GROUP)
    if (group && group.label === FIRST_GROUP_LABEL) {
      // Portals set up by the first version: the admin-facing label follows.
      await budget.take('general', signal)
      await client.crm.properties.groupsApi.update('contacts', PROPERTY_GROUP, {
        label: PROPERTY_GROUP_LABEL,
      })
      created.push(`label of group ${PROPERTY_GROUP}`)
    }
    if (!group) {
      await budget.take('general', signal)
      await client.crm.properties.groupsApi
        .create('contacts', { name: PROPERTY_GROUP, label: PROPERTY_GROUP_LABEL, displayOrder: -1 })
        .catch(ignoreConflict)
      created.push(`group ${PROPERTY_GROUP}`)
    }
    await budget.take('general', signal)
    const existing = new Map(
      (await client.crm.properties.coreApi.getAll('contacts')).results.map((p) => [p.name, p]),
    )
    for (const p of CONTACT_PROPERTIES) {
      const have = existing.get(p.name)
      if (have) {
        // Created by the first version (no description, option labels = values): fill what it left out.
        // Anything else is an admin's wording and stays.
        const patch = {
          ...(have.description ? {} : { description: p.description }),
          ...('options' in p && (have.options ?? []).every((o) => o.label === o.value)
            ? { options: [...p.options] }
            : {}),
        }
        if (Object.keys(patch).length > 0) {
          await budget.take('general', signal)
          await client.crm.properties.coreApi.update('contacts', p.name, patch)
          created.push(`description of ${p.name}`)
        }
        continue
      }
      await budget.take('general', signal)
      await client.crm.properties.coreApi
        .create('contacts', {
          name: p.name,
          label: p.label,
          description: p.description,
          type: p.type as never,
          fieldType: p.fieldType as never,
          groupName: PROPERTY_GROUP,
          ...('options' in p ? { options: [...p.options] } : {}),
        })
        .catch(ignoreConflict)
      created.push(p.name)
    }
    return { created }
  }

  /**
   * Checks every user's `hubspotOwnerId` against `GET /crm/v3/owners` (all pages). An unknown id would
   * make every batch carrying it fail with 400; it is reported as a rules problem instead, and the
   * flusher leaves that owner out of its writes.
   */
  async checkOwners(signal?: AbortSignal): Promise<OwnerProblem[]> {
    const { client, budget } = this.deps
    const owners: Array<{ id: string; userId?: number; email?: string }> = []
    let after: string | undefined
    do {
      await budget.take('general', signal)
      const page = await client.crm.owners.ownersApi.getPage(undefined, after, 500, false)
      owners.push(...page.results)
      after = page.paging?.next?.after
    } while (after)
    this.knownOwners = new Set(owners.map((o) => o.id))
    const problems: OwnerProblem[] = []
    for (const user of this.deps.rules().users.values()) {
      const id = user.hubspotOwnerId
      if (!id || this.knownOwners.has(id)) continue
      const byUserId = owners.find((o) => String(o.userId) === id)
      problems.push({
        user: user.id,
        hubspotOwnerId: id,
        message: byUserId
          ? `users[${user.id}].hubspotOwnerId ${id} is the HubSpot userId of ${byUserId.email ?? 'an owner'}; use its owner id ${byUserId.id}`
          : `users[${user.id}].hubspotOwnerId ${id} is not an owner in HubSpot (GET /crm/v3/owners); HubSpot would refuse every contact update carrying it`,
      })
    }
    return problems
  }

  /** False only for an owner id the last owners check did not find. */
  ownerKnown(ownerId: string): boolean {
    return this.knownOwners === null || this.knownOwners.has(ownerId)
  }

  /** The contact whose number is `digits` (E.164 without +), or null. Throws BudgetBusy when no slot. */
  async contactByPhone(digits: string, defaultRegion?: string): Promise<string | null> {
    return (await this.contactsByPhones([digits], defaultRegion)).get(digits) ?? null
  }

  async contactsByPhones(phones: string[], defaultRegion?: string): Promise<Map<string, string | null>> {
    const found = await this.lookupContacts(phones, defaultRegion)
    return new Map([...found].map(([p, m]) => [p, m?.id ?? null]))
  }

  /**
   * Contacts for many numbers at once: cached ones first, then few searches for the rest (each ORs
   * both searchable numbers (national digits), the WhatsApp number and phone/mobile as E.164, with IN
   * lists). A hit is verified by parsing the contact's stored numbers; misses are cached briefly. A
   * contact found by search carries the owner HubSpot holds, which is also remembered for a day.
   */
  async lookupContacts(
    phones: string[],
    defaultRegion?: string,
    /** Numbers whose cached miss is not trusted (an unmatched chat's retry: its backoff is the pacing). */
    searchAgain: ReadonlySet<string> = new Set(),
  ): Promise<Map<string, ContactMatch | null>> {
    const out = new Map<string, ContactMatch | null>()
    const unique = [...new Set(phones)]
    const cached = await this.cache.get(unique)
    const todo: string[] = []
    for (const p of unique) {
      const c = cached.get(p)
      if (c === undefined || (c === null && searchAgain.has(p))) todo.push(p)
      else out.set(p, c === null ? null : { id: c })
    }
    for (const chunk of searchChunks(todo)) {
      const found = await this.search(chunk, defaultRegion)
      const hits: Array<[string, string]> = []
      for (const p of chunk) {
        const match = found.get(p) ?? null
        out.set(p, match)
        if (match) hits.push([p, match.id])
      }
      await this.cache.remember(hits)
      await this.cache.rememberMisses(chunk.filter((p) => !found.get(p)))
      await this.rememberOwners([...found.values()].map((m) => [m.id, m.owner ?? '']))
    }
    return out
  }

  private ownerKey(contactId: string) {
    return this.deps.keys.global(`crm:contact-owner:${contactId}`)
  }

  /** The owner HubSpot last held for a contact, as far as we saw it (search, webhook, our write). */
  async rememberOwners(entries: Array<[contactId: string, ownerId: string]>): Promise<void> {
    if (entries.length === 0) return
    const multi = this.deps.redis.multi()
    for (const [id, owner] of entries) multi.set(this.ownerKey(id), owner, 'EX', OWNER_TTL_S)
    await multi.exec()
  }

  /** undefined = not seen within a day. */
  async knownOwner(contactId: string): Promise<string | undefined> {
    return (await this.deps.redis.get(this.ownerKey(contactId))) ?? undefined
  }

  /** Logs an owner id no rules user has once a day (per id), not on every chat it touches. */
  async logUnknownOwnerOnce(ownerId: string, context: Record<string, unknown>): Promise<void> {
    const key = this.deps.keys.global(`crm:unknown-owner-logged:${ownerId}`)
    if ((await this.deps.redis.set(key, '1', 'EX', OWNER_TTL_S, 'NX')) === null) return
    this.deps.log.warn(
      { hubspotOwnerId: ownerId, ...context },
      `HubSpot owner ${ownerId} is no user's hubspotOwnerId in the rules: its chats stay unassigned`,
    )
  }

  private async search(phones: string[], defaultRegion?: string): Promise<Map<string, ContactMatch>> {
    const { client, budget } = this.deps
    const found = new Map<string, ContactMatch>()
    let after: string | undefined = '0'
    for (let page = 0; page < 5 && after !== undefined; page++) {
      await budget.acquire('search')
      const res = await client.crm.contacts.searchApi.doSearch(phoneSearch(phones, after) as never)
      for (const c of res.results) {
        for (const p of phones) {
          if (!found.has(p) && storedNumberMatches(c.properties, p, defaultRegion))
            found.set(p, { id: c.id, owner: c.properties.hubspot_owner_id ?? '' })
        }
      }
      after = res.paging?.next?.after
    }
    return found
  }

  /** `createContacts: true`: a contact for a number no contact has (phone and WhatsApp number, E.164). */
  async createContactFor(digits: string): Promise<string> {
    await this.deps.budget.acquire('general')
    const created = await this.deps.client.crm.contacts.basicApi.create({
      properties: { phone: `+${digits}`, hs_whatsapp_phone_number: `+${digits}` },
      associations: [],
    })
    await this.cache.remember([[digits, created.id]])
    return created.id
  }

  /** Remembers which chats a contact's properties come from (for HubSpot's webhooks); true = a new link. */
  async linkChat(contactId: string, sessionId: string, chatJid: string): Promise<boolean> {
    const added = await this.deps.redis.sadd(
      this.deps.keys.global(`crm:chats-of:${contactId}`),
      `${sessionId}|${chatJid}`,
    )
    return added === 1
  }

  async chatsOf(contactId: string): Promise<Array<{ sessionId: string; chatJid: string }>> {
    const members = await this.deps.redis.smembers(this.deps.keys.global(`crm:chats-of:${contactId}`))
    return members.map((m) => {
      const [sessionId, chatJid] = m.split('|') as [string, string]
      return { sessionId, chatJid }
    })
  }

  /** HubSpot no longer has this contact (deleted, merged): drop its cache entries and links. */
  async forgetContact(contactId: string): Promise<Array<{ sessionId: string; chatJid: string }>> {
    const chats = await this.chatsOf(contactId)
    await this.cache.forgetContact(contactId)
    await this.deps.redis.del(this.deps.keys.global(`crm:chats-of:${contactId}`), this.ownerKey(contactId))
    return chats
  }

  /** `wa_no_reply_needed` was applied: the next write sets it back to false, so it works again. */
  async noReplyApplied(contactId: string): Promise<void> {
    await this.deps.redis.sadd(this.deps.keys.global('crm:no-reply-reset'), contactId)
  }

  async noReplyResets(contactIds: string[]): Promise<Set<string>> {
    if (contactIds.length === 0) return new Set()
    const flags = await this.deps.redis.smismember(this.deps.keys.global('crm:no-reply-reset'), ...contactIds)
    return new Set(contactIds.filter((_, i) => flags[i] === 1))
  }

  async noReplyWritten(contactIds: string[]): Promise<void> {
    if (contactIds.length)
      await this.deps.redis.srem(this.deps.keys.global('crm:no-reply-reset'), ...contactIds)
  }

  /** What we wrote, so the webhook echo of our own write is recognised. */
  async recordWrites(writes: Array<[contactId: string, properties: Record<string, string>]>, at: number) {
    const multi = this.deps.redis.multi()
    let n = 0
    for (const [contactId, properties] of writes) {
      for (const [name, value] of Object.entries(properties)) {
        if (name !== 'hubspot_owner_id' && name !== 'wa_no_reply_needed') continue
        const key = this.deps.keys.global(`crm:wrote:${contactId}:${name}`)
        multi.hset(key, value, String(at))
        multi.expire(key, ECHO_TTL_S)
        // Our write is the newest value HubSpot has: a HubSpot change that happened before it and
        // arrives late is older and must not undo it (see HubSpotEvents' occurredAt check).
        if (name === 'hubspot_owner_id') {
          multi.set(this.ownerKey(contactId), value, 'EX', OWNER_TTL_S)
          ;(multi as unknown as { tbHubSpotSeen: (...a: Array<string | number>) => void }).tbHubSpotSeen(
            this.deps.keys.global(`crm:hook-at:${contactId}:${name}`),
            at,
            7 * 24 * 3600,
          )
        }
        n++
      }
    }
    if (n > 0) await multi.exec()
    else multi.discard()
  }

  /**
   * An event is our own write coming back when the value is one we wrote shortly (at most
   * `ECHO_WINDOW_MS`) before it occurred,
   * unless HubSpot names a person, a workflow or an import as its source (then it is a real change,
   * even back to a value we once wrote). Any other source (INTEGRATION, API, names we do not know)
   * counts as possibly ours.
   */
  async isEcho(e: {
    objectId: string
    propertyName: string
    propertyValue: string
    occurredAt: number
    changeSource?: string
  }): Promise<boolean> {
    if (e.changeSource && NOT_AN_APP.has(e.changeSource)) return false
    const at = await this.deps.redis.hget(
      this.deps.keys.global(`crm:wrote:${e.objectId}:${e.propertyName}`),
      e.propertyValue,
    )
    if (at === null) return false
    const wroteAt = Number(at)
    return e.occurredAt >= wroteAt - ECHO_SKEW_MS && e.occurredAt <= wroteAt + ECHO_WINDOW_MS
  }

  /**
   * When HubSpot's daily limit resets: the private-app usage endpoint's `resetsAt`, else the next
   * midnight in the portal's time zone (account details), else in the org's configured time zone.
   */
  async dailyReset(fallbackTimeZone: string): Promise<{ at: number; source: string }> {
    const usage = await this.accountInfo<{ results?: Array<{ resetsAt?: string }> }>(
      '/account-info/v3/api-usage/daily/private-apps',
    )
    const resetsAt = Date.parse(usage?.results?.[0]?.resetsAt ?? '')
    if (Number.isFinite(resetsAt) && resetsAt > Date.now()) return { at: resetsAt, source: 'api-usage' }
    const details = await this.accountInfo<{ timeZone?: string }>('/account-info/v3/details')
    const zone =
      details?.timeZone && DateTime.local().setZone(details.timeZone).isValid ? details.timeZone : null
    const midnight = (tz: string) => DateTime.now().setZone(tz).plus({ days: 1 }).startOf('day').toMillis()
    if (zone) return { at: midnight(zone), source: `portal time zone ${zone}` }
    return { at: midnight(fallbackTimeZone), source: `rules time zone ${fallbackTimeZone}` }
  }

  /**
   * The portal (HubSpot account) our token belongs to, from the account details, kept a day. Null while
   * HubSpot does not answer.
   */
  async portalId(): Promise<number | null> {
    const key = this.deps.keys.global('crm:portal-id')
    const known = await this.deps.redis.get(key)
    if (known) return Number(known)
    const details = await this.accountInfo<{ portalId?: number }>('/account-info/v3/details')
    if (typeof details?.portalId !== 'number') return null
    await this.deps.redis.set(key, String(details.portalId), 'EX', OWNER_TTL_S)
    return details.portalId
  }

  private async accountInfo<T>(path: string): Promise<T | null> {
    const { baseUrl, token, timeoutMs } = this.deps.http
    try {
      const res = await fetch(new URL(path, baseUrl), {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(timeoutMs),
      })
      if (!res.ok) {
        await res.arrayBuffer()
        return null
      }
      return (await res.json()) as T
    } catch (err) {
      this.deps.log.warn({ path, err: (err as Error).message }, 'HubSpot account info unavailable')
      return null
    }
  }

  async createTask(input: CrmTaskInput): Promise<CrmOutcome> {
    if (!input.phone) return { ok: false, skipped: 'no phone number known for this chat yet (LID only)' }
    const region = this.hubspotOf(input.sessionId)?.defaultRegion
    let contactId = await this.contactByPhone(input.phone, region)
    if (!contactId)
      return { ok: false, skipped: `no HubSpot contact with phone +${input.phone} yet`, retry: true }
    try {
      return await this.createTaskOn(contactId, input)
    } catch (err) {
      // A contact merged or deleted since we cached its id: the association is refused. Look it up again.
      const f = classifyHubSpotError(err)
      if (f.kind !== 'invalid' || !f.message.includes(contactId)) throw err
      await this.forgetContact(contactId)
      contactId = await this.contactByPhone(input.phone, region)
      if (!contactId)
        return { ok: false, skipped: `no HubSpot contact with phone +${input.phone} yet`, retry: true }
      return this.createTaskOn(contactId, input)
    }
  }

  private async createTaskOn(contactId: string, input: CrmTaskInput): Promise<CrmOutcome> {
    // HubSpot has no idempotency key: the task carries a token of ours, and a retry (whose earlier
    // try may have been created with its answer lost) looks for it first.
    const marker = input.ref ? taskMarker(input.ref) : undefined
    if (marker && (input.earlierTries ?? 0) > 0) {
      await this.deps.budget.acquire('search')
      const found = await this.deps.client.crm.objects.tasks.searchApi.doSearch({
        filterGroups: [
          { filters: [{ propertyName: 'hs_task_body', operator: 'CONTAINS_TOKEN' as never, value: marker }] },
        ],
        properties: ['hs_task_subject'],
        limit: 1,
        after: '0',
        sorts: [],
      })
      const earlier = found.results[0]
      if (earlier)
        return { ok: true, detail: `task ${earlier.id} on contact ${contactId} (created by an earlier try)` }
    }
    const wanted = input.assigneeUserId
      ? this.deps.rules().users.get(input.assigneeUserId)?.hubspotOwnerId
      : undefined
    const owner = wanted && this.ownerKnown(wanted) ? wanted : undefined
    await this.deps.budget.acquire('general')
    const task = await this.deps.client.crm.objects.tasks.basicApi.create({
      properties: {
        hs_task_subject: input.subject,
        hs_task_priority: input.priority,
        hs_task_status: 'NOT_STARTED',
        hs_timestamp: new Date(input.dueAt).toISOString(),
        ...(marker ? { hs_task_body: `Created by Tickbridge (reference ${marker})` } : {}),
        ...(owner ? { hubspot_owner_id: owner } : {}),
      },
      associations: [
        {
          to: { id: contactId },
          types: [{ associationCategory: 'HUBSPOT_DEFINED' as never, associationTypeId: 204 }],
        },
      ],
    })
    return {
      ok: true,
      detail: `task ${task.id} on contact ${contactId}${owner ? ` for owner ${owner}` : ''}`,
    }
  }
}

/**
 * The search for a few numbers: both searchable numbers (national digits) and the WhatsApp number and
 * phone/mobile as E.164, one IN filter per group (5 groups, HubSpot's maximum of filter groups).
 */
export function phoneSearch(phones: string[], after = '0') {
  const e164 = phones.map((p) => `+${p}`)
  const national = [...new Set(phones.map((p) => nationalDigits(p) ?? p))]
  const inFilter = (propertyName: string, values: string[]) => ({
    filters: [{ propertyName, operator: 'IN', values }],
  })
  return {
    filterGroups: [
      inFilter('hs_searchable_calculated_phone_number', national),
      inFilter('hs_searchable_calculated_mobile_number', national),
      inFilter('hs_whatsapp_phone_number', e164),
      inFilter('phone', e164),
      inFilter('mobilephone', e164),
    ],
    properties: LOOKUP_PROPERTIES,
    limit: 200,
    after,
    sorts: [],
  }
}

/** Numbers in searches of at most 25 whose encoded body stays within HubSpot's 3,000 characters. */
export function searchChunks(phones: string[]): string[][] {
  const chunks: string[][] = []
  let chunk: string[] = []
  for (const p of phones) {
    const next = [...chunk, p]
    if (
      chunk.length > 0 &&
      (next.length > PHONES_PER_SEARCH || JSON.stringify(phoneSearch(next)).length > SEARCH_BODY_LIMIT)
    ) {
      chunks.push(chunk)
      chunk = [p]
    } else chunk = next
  }
  if (chunk.length > 0) chunks.push(chunk)
  return chunks
}

/** One word (HubSpot's CONTAINS_TOKEN matches whole words) that names an SLA action's task. */
export function taskMarker(ref: string): string {
  return `tickbridge${createHash('sha256').update(ref).digest('hex').slice(0, 20)}`
}

function ignoreConflict(err: unknown): void {
  if ((err as { code?: number }).code !== 409) throw err
}
