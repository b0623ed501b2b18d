import type { Client } from '@hubspot/api-client'
import type { Logger } from 'pino'
import type { Clock } from '../src/clock.js'
import type { CrmDirtySet } from '../src/crm/crm-sync.js'
import type { HubSpotBudget } from '../src/crm/hubspot/budget.js'
import { classifyHubSpotError } from '../src/crm/hubspot/errors.js'
import type { ContactMatch, HubSpotCrm } from '../src/crm/hubspot/hubspot-crm.js'
import { applyFromHubSpot } from '../src/crm/origin.js'
import type { UnmatchedChats } from '../src/crm/unmatched.js'
import type { InboxEventInput } from '../src/domain/events.js'
import { phoneOf } from '../src/domain/jid.js'
import type { Chat } from '../src/inbox/chat.js'
import type { InboxStore } from '../src/inbox/store.js'
import type { Metrics } from '../src/metrics.js'
import type { Rules } from '../src/rules/compile.js'
import type { SlaStore } from '../src/sla/sla-store.js'

/**
 * `crm-flush`: writes the contact properties of every chat whose debounce window has ended, at most 100
 * contacts per `batch/update` call, within the shared request budget. Runs every second (a job
 * scheduler, one at a time across workers). It never waits for budget: without a slot, the claimed
 * chats go back to the dirty set, due when the budget has room. A partial batch ends the run, so
 * chats coming due in the next moment join the next batch instead of going out one by one.
 */
const BATCH = 100
/** Batches per run, so one run does not hold the queue for long. */
const MAX_BATCHES = 20

export interface CrmFlushDeps {
  dirty: CrmDirtySet
  inbox: InboxStore
  sla: SlaStore
  hubspot: HubSpotCrm
  client: Client
  budget: HubSpotBudget
  rules: () => Rules
  clock: Clock
  metrics: Metrics
  log: Logger
  unmatched: UnmatchedChats
  /** Inbox changes the flush itself makes (a chat following the owner HubSpot holds). */
  ingest: (event: InboxEventInput) => Promise<unknown>
}

export function crmFlushProcessor(deps: CrmFlushDeps) {
  return async (): Promise<{ written: number; batches: number }> => {
    let written = 0
    let batches = 0
    while (batches < MAX_BATCHES) {
      if (await deps.budget.pausedUntil()) break
      const claimed = await deps.dirty.claim(BATCH)
      if (claimed.length === 0) break
      const outcome = await flushBatch(deps, claimed)
      written += outcome.written
      batches += outcome.calls
      if (outcome.stop || claimed.length < BATCH) break
    }
    await deps.unmatched.count().then((n) => deps.metrics.crmUnmatched.set(n))
    return { written, batches }
  }
}

interface Entry {
  contactId: string
  properties: Record<string, string>
  members: string[]
  /** Chats whose Tickbridge-made owner change this write carries. */
  ownerMembers: string[]
  /** Chats whose contact HubSpot holds without an owner: their owner fills it (`fillEmptyOwner`). */
  fillMembers: string[]
  /** The owner (HubSpot id) of each chat flushed, by member: '' = unassigned, undefined = no HubSpot id. */
  chatOwners: Map<string, string | undefined>
  resetNoReply: boolean
}

interface Outcome {
  written: number
  calls: number
  stop: boolean
}

type Claimed = Array<{ sessionId: string; chatJid: string; member: string }>

async function flushBatch(deps: CrmFlushDeps, claimed: Claimed): Promise<Outcome> {
  const { dirty, metrics } = deps
  const settled: string[] = []
  const located: Array<{ c: Claimed[number]; chat: Chat; phone: string; region?: string }> = []
  for (const c of claimed) {
    const chat = await deps.inbox.getChat(c.sessionId, c.chatJid)
    const phone = chat ? (phoneOf(chat.jid) ?? (chat.altJid ? phoneOf(chat.altJid) : undefined)) : undefined
    if (!chat || !phone) {
      // LID-only chats wait for their phone number: a LID mapping marks them again.
      metrics.crmSkipped.inc({ reason: chat ? 'no_phone' : 'no_chat' })
      settled.push(c.member)
      continue
    }
    located.push({ c, chat, phone, region: deps.hubspot.hubspotOf(c.sessionId)?.defaultRegion })
  }
  await dirty.done(settled)
  const pending = located.map((l) => l.c.member)
  let contacts: Map<string, ContactMatch | null>
  try {
    // One lookup per default region, each a few searches for all the new numbers at once.
    contacts = new Map()
    const byRegion = new Map<string | undefined, string[]>()
    for (const l of located) byRegion.set(l.region, [...(byRegion.get(l.region) ?? []), l.phone])
    // An unmatched chat's retry searches again: its backoff paces it, and a cached miss (10 minutes)
    // would hide a contact created a moment before the customer wrote until long after search shows it.
    const retried = await deps.unmatched.which(pending)
    const searchAgain = new Set(located.filter((l) => retried.has(l.c.member)).map((l) => l.phone))
    for (const [region, phones] of byRegion) {
      const found = await deps.hubspot.lookupContacts(phones, region, searchAgain)
      for (const [p, m] of found) contacts.set(`${region ?? ''}|${p}`, m)
    }
  } catch (err) {
    return handleFailure(deps, pending, err, 'search')
  }

  const inputs = new Map<string, Entry>()
  const matched: string[] = []
  for (const l of located) {
    const match = contacts.get(`${l.region ?? ''}|${l.phone}`) ?? null
    let contactId = match?.id ?? null
    const org = deps.hubspot.hubspotOf(l.c.sessionId)
    if (!contactId && org?.createContacts) {
      try {
        contactId = await deps.hubspot.createContactFor(l.phone)
        deps.log.info(
          { contactId, phone: `+${l.phone}` },
          'HubSpot: created a contact for a new WhatsApp number',
        )
      } catch (err) {
        // Nothing of this batch is written yet: all of it comes back (those already noted as
        // unmatched keep their own, later due time).
        return handleFailure(deps, pending, err, 'create_contact')
      }
    }
    if (!contactId) {
      // Kept pending: search lags writes, and the contact may be created later. Visible to admins.
      metrics.crmSkipped.inc({ reason: 'no_contact' })
      const { delayMs } = await deps.unmatched.missed(l.c.member, {
        sessionId: l.c.sessionId,
        chatJid: l.chat.jid,
        org: deps.rules().sessions.get(l.c.sessionId)?.org ?? '',
        phone: l.phone,
      })
      await dirty.retry([l.c.member], delayMs)
      continue
    }
    matched.push(l.c.member)
    const linkedNow = await deps.hubspot.linkChat(contactId, l.c.sessionId, l.chat.jid)
    const read = await ownerAtMatch(deps, l.c.member, l.chat, contactId, match?.owner, linkedNow)
    const chat = read.chat
    const entry = inputs.get(contactId)
    // Two chats of one contact in one batch: both computed the same combined values; one write.
    const properties = await contactProperties(deps, contactId, l.c.sessionId, chat)
    inputs.set(contactId, {
      contactId,
      properties,
      members: [...(entry?.members ?? []), l.c.member],
      ownerMembers: entry?.ownerMembers ?? [],
      fillMembers: [...(entry?.fillMembers ?? []), ...(read.fill ? [l.c.member] : [])],
      chatOwners: new Map([
        ...(entry?.chatOwners ?? []),
        [l.c.member, chat.owner === null ? '' : ownerIdOf(deps, chat)],
      ]),
      resetNoReply: false,
    })
  }
  await deps.unmatched.matched(matched)
  if (inputs.size === 0) return { written: 0, calls: 0, stop: false }
  await decideOwnersAndFlags(deps, [...inputs.values()])
  return send(deps, [...inputs.values()])
}

/**
 * With `owner: hubspot`, the owner HubSpot holds is read when a chat is matched (a search just read it,
 * or a chat is newly linked to a contact whose owner we saw within a day): the chat moves to the rules
 * user with that `hubspotOwnerId` (none = unassigned, logged once), unless Tickbridge changed the chat's
 * owner since the last write (that change is written instead). A contact HubSpot holds without an owner
 * (read by this search) gets the chat's owner written, unless `fillEmptyOwner: false`.
 */
async function ownerAtMatch(
  deps: CrmFlushDeps,
  member: string,
  chat: Chat,
  contactId: string,
  searched: string | undefined,
  linkedNow: boolean,
): Promise<{ chat: Chat; fill: boolean }> {
  const sid = member.split('|')[0]!
  const settings = deps.hubspot.hubspotOf(sid)
  if ((settings?.owner ?? 'hubspot') !== 'hubspot') return { chat, fill: false }
  const held = searched ?? (linkedNow ? await deps.hubspot.knownOwner(contactId) : undefined)
  if (held === undefined) return { chat, fill: false }
  if ((await deps.dirty.ownerChanged([member])).size > 0) return { chat, fill: false }
  if (held === '') return { chat, fill: searched === '' && settings?.fillEmptyOwner !== false }
  const rules = deps.rules()
  const org = rules.sessions.get(sid)?.org
  const user = [...rules.users.values()].find((u) => u.org === org && u.hubspotOwnerId === held)
  if (!user) await deps.hubspot.logUnknownOwnerOnce(held, { contactId, org })
  const owner = user?.id ?? null
  if (chat.owner === owner) return { chat, fill: false }
  await applyFromHubSpot(() => deps.ingest({ type: 'chat.owner', sessionId: sid, chatJid: chat.jid, owner }))
  deps.log.info(
    { contactId, chat: member, owner, hubspotOwnerId: held },
    'HubSpot names the contact’s owner: the chat follows',
  )
  return { chat: (await deps.inbox.getChat(sid, chat.jid)) ?? chat, fill: false }
}

/**
 * Which entries carry `hubspot_owner_id`. The org's `hubspot.owner` decides: `hubspot` (default) only
 * when Tickbridge itself changed the chat's owner since the last write; `tickbridge` always; `off`
 * never. An owner id HubSpot does not know is left out (the owners check reported it).
 * Also: a contact whose `wa_no_reply_needed` was applied gets it written back to false.
 */
async function decideOwnersAndFlags(deps: CrmFlushDeps, entries: Entry[]): Promise<void> {
  const changed = await deps.dirty.ownerChanged(entries.flatMap((e) => e.members))
  const resets = await deps.hubspot.noReplyResets(entries.map((e) => e.contactId))
  for (const e of entries) {
    const sid = e.members[0]!.split('|')[0]!
    const direction = deps.hubspot.hubspotOf(sid)?.owner ?? 'hubspot'
    const flagged = e.members.filter((m) => changed.has(m))
    // HubSpot as the source of truth: only the owner Tickbridge just set (that chat's own owner), or
    // the chat's owner into a contact HubSpot holds without one (never over an owner HubSpot holds).
    const fill = direction === 'hubspot' && flagged.length === 0 && e.fillMembers.length > 0
    const owner =
      direction === 'hubspot' && flagged.length > 0
        ? e.chatOwners.get(flagged.at(-1)!)
        : fill
          ? e.chatOwners.get(e.fillMembers.at(-1)!) || undefined
          : e.properties.hubspot_owner_id
    const write = direction === 'tickbridge' || (direction === 'hubspot' && (flagged.length > 0 || fill))
    // '' = Tickbridge unassigned the chat: HubSpot's owner is cleared too.
    if (write && owner !== undefined && (owner === '' || deps.hubspot.ownerKnown(owner)))
      e.properties.hubspot_owner_id = owner
    else {
      if (owner && write)
        deps.log.warn({ contactId: e.contactId, owner }, 'owner id unknown to HubSpot: not written')
      delete e.properties.hubspot_owner_id
    }
    e.ownerMembers = flagged
    if (resets.has(e.contactId)) {
      e.properties.wa_no_reply_needed = 'false'
      e.resetNoReply = true
    }
  }
}

/**
 * One `batch/update`. HubSpot refuses the whole request with 400 when one value is invalid (an unknown
 * owner id, an option not in an enumeration) without saying which contact: split in halves until the
 * bad contact is alone, write the others, park the bad one (with HubSpot's message) until the rules
 * change.
 */
async function send(deps: CrmFlushDeps, entries: Entry[]): Promise<Outcome> {
  const { dirty, metrics, log } = deps
  const members = entries.flatMap((e) => e.members)
  try {
    await deps.budget.acquire('general')
  } catch (err) {
    return handleFailure(deps, members, err, 'batch_update')
  }
  let res: { errors?: Array<{ category?: string; message?: string; context?: { ids?: string[] } }> }
  // Our write's time is taken before the request: HubSpot's echo can occur before the answer arrives.
  const at = deps.clock.now()
  try {
    res = (await deps.client.crm.contacts.batchApi.update({
      inputs: entries.map((e) => ({ id: e.contactId, properties: e.properties })),
    })) as typeof res
  } catch (err) {
    const f = classifyHubSpotError(err)
    if (f.kind !== 'invalid') return handleFailure(deps, members, err, 'batch_update')
    metrics.crmCalls.inc({ call: 'batch_update', outcome: 'invalid' })
    if (entries.length > 1) {
      const half = Math.ceil(entries.length / 2)
      const a = await send(deps, entries.slice(0, half))
      if (a.stop) {
        await dirty.retry(
          entries.slice(half).flatMap((e) => e.members),
          1000,
        )
        return { ...a, calls: a.calls + 1 }
      }
      const b = await send(deps, entries.slice(half))
      return { written: a.written + b.written, calls: a.calls + b.calls + 1, stop: b.stop }
    }
    const bad = entries[0]!
    metrics.crmSkipped.inc({ reason: 'rejected' })
    log.error(
      {
        contactId: bad.contactId,
        chats: bad.members,
        // Names only (the preview is customer text), plus the owner id, the usual culprit.
        properties: Object.keys(bad.properties),
        ...(bad.properties.hubspot_owner_id ? { hubspotOwnerId: bad.properties.hubspot_owner_id } : {}),
        hubspot: f.message,
      },
      'HubSpot refused this contact’s update (400): parked until the rules change',
    )
    for (const m of bad.members) await dirty.reject(m, f.message)
    return { written: 0, calls: 1, stop: false }
  }
  metrics.crmCalls.inc({ call: 'batch_update', outcome: 'ok' })
  metrics.crmBatchSize.observe(entries.length)
  const failed = new Set<string>()
  const byId = new Map(entries.map((e) => [e.contactId, e]))
  for (const e of res.errors ?? []) {
    for (const id of e.context?.ids ?? []) {
      failed.add(id)
      const v = byId.get(id)
      if (!v) continue
      if (e.category === 'OBJECT_NOT_FOUND') {
        // Deleted or merged in HubSpot: look it up again next time.
        await deps.hubspot.forgetContact(id)
        await dirty.retry(v.members, 1000)
      } else if (e.category === 'RATE_LIMITS') {
        await dirty.retry(v.members, 1000)
      } else {
        metrics.crmSkipped.inc({ reason: 'rejected' })
        log.error(
          { contactId: id, category: e.category, hubspot: e.message },
          'HubSpot rejected a contact update',
        )
        for (const m of v.members) await dirty.reject(m, e.message ?? String(e.category))
      }
    }
  }
  const ok = entries.filter((e) => !failed.has(e.contactId))
  await deps.hubspot.recordWrites(
    ok.map((e) => [e.contactId, e.properties]),
    at,
  )
  await dirty.ownerWritten(ok.flatMap((e) => ('hubspot_owner_id' in e.properties ? e.ownerMembers : [])))
  await deps.hubspot.noReplyWritten(ok.filter((e) => e.resetNoReply).map((e) => e.contactId))
  await dirty.done(ok.flatMap((e) => e.members))
  metrics.crmContactsWritten.inc(ok.length)
  log.info(
    { contacts: entries.length, written: ok.length, failed: failed.size, chats: members.length },
    'HubSpot batch written',
  )
  return { written: ok.length, calls: 1, stop: false }
}

async function handleFailure(
  deps: CrmFlushDeps,
  members: string[],
  err: unknown,
  call: string,
): Promise<Outcome> {
  const f = classifyHubSpotError(err)
  deps.metrics.crmCalls.inc({ call, outcome: f.kind })
  const stop = { written: 0, calls: f.kind === 'no_budget' ? 0 : 1, stop: true }
  if (f.kind === 'no_budget') {
    // No slot free now: the chats are due again when the budget (or the pause) allows.
    await deps.dirty.retry(members, f.retryAfterMs)
    return stop
  }
  if (f.kind === 'daily_limit') {
    const tz = deps.rules().config.orgs[0]?.hubspot.timeZone ?? 'UTC'
    const reset = await deps.hubspot.dailyReset(tz)
    await deps.budget.pauseUntil(reset.at)
    await deps.dirty.retry(members, Math.max(1000, reset.at - Date.now()))
    deps.log.error(
      { resumesAt: new Date(reset.at).toISOString(), from: reset.source },
      `HubSpot daily limit reached: CRM sync paused, changes kept; sync resumes at ${new Date(reset.at).toISOString()}`,
    )
    return stop
  }
  if (f.kind === 'rate_limited' || f.kind === 'retryable') {
    await deps.dirty.retry(members, f.retryAfterMs)
    deps.log.warn(
      { call, retryInMs: f.retryAfterMs, ...(f.kind === 'retryable' ? { status: f.status } : {}) },
      f.kind === 'rate_limited'
        ? 'HubSpot rate limit (429): backing off'
        : 'HubSpot unavailable: retrying shortly',
    )
    return stop
  }
  // 401/403/404 and the like: a configuration problem. The values come from the inbox, so nothing is
  // lost by trying again later; the log says what HubSpot answered.
  await deps.dirty.retry(members, 60_000)
  deps.log.error({ call, status: f.status, message: f.message }, 'HubSpot refused the call: retrying in 60 s')
  return stop
}

const SLA_RANK: Record<string, number> = { ok: 0, warning: 1, breached: 2 }

/**
 * A contact who writes to several of the team's numbers has one chat in each; the contact shows them
 * combined (unanswered summed, the longest wait, the latest activity, the worst SLA state, the owner of
 * the chat written to last), so the value does not depend on which chat happened to be flushed last.
 */
async function contactProperties(
  deps: CrmFlushDeps,
  contactId: string,
  sid: string,
  chat: Chat,
): Promise<Record<string, string>> {
  const links = await deps.hubspot.chatsOf(contactId)
  if (links.length <= 1) return propertiesOf(deps, sid, chat)
  const chats: Array<{ sid: string; chat: Chat }> = []
  for (const l of links) {
    const other =
      l.sessionId === sid && l.chatJid === chat.jid ? chat : await deps.inbox.getChat(l.sessionId, l.chatJid)
    if (other) chats.push({ sid: l.sessionId, chat: other })
  }
  const all = await Promise.all(chats.map((c) => propertiesOf(deps, c.sid, c.chat)))
  const latest = chats.reduce((a, b) => ((b.chat.lastInboundAt ?? 0) > (a.chat.lastInboundAt ?? 0) ? b : a))
  const pick = (name: string, better: (a: string, b: string) => boolean) =>
    all.map((p) => p[name] ?? '').reduce((a, b) => (a === '' ? b : b !== '' && better(b, a) ? b : a), '')
  const owner = all[chats.indexOf(latest)]?.hubspot_owner_id
  const active = chats.reduce((a, b) => (b.chat.lastActivity > a.chat.lastActivity ? b : a))
  const activeProps = all[chats.indexOf(active)]!
  return {
    wa_business_number: activeProps.wa_business_number ?? '',
    wa_last_message_preview: activeProps.wa_last_message_preview ?? '',
    wa_unanswered_count: String(all.reduce((n, p) => n + Number(p.wa_unanswered_count ?? 0), 0)),
    wa_awaiting_reply_since: pick('wa_awaiting_reply_since', (a, b) => a < b),
    wa_last_inbound_at: pick('wa_last_inbound_at', (a, b) => a > b),
    wa_last_outbound_at: pick('wa_last_outbound_at', (a, b) => a > b),
    wa_sla_state: pick('wa_sla_state', (a, b) => (SLA_RANK[a] ?? 0) > (SLA_RANK[b] ?? 0)),
    ...(owner ? { hubspot_owner_id: owner } : {}),
  }
}

async function propertiesOf(deps: CrmFlushDeps, sid: string, chat: Chat): Promise<Record<string, string>> {
  const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : '')
  const clock = await deps.sla.get(sid, chat.jid)
  const owner = ownerIdOf(deps, chat)
  const session = deps.rules().sessions.get(sid)
  return {
    wa_business_number: session?.label ?? sid,
    wa_last_message_preview: (chat.lastMessage?.preview ?? '').slice(0, PREVIEW_CHARS),
    wa_unanswered_count: String(chat.unanswered),
    wa_awaiting_reply_since: iso(chat.waitingSince),
    wa_last_inbound_at: iso(chat.lastInboundAt),
    wa_last_outbound_at: iso(chat.lastOutboundAt),
    wa_sla_state: clock?.state ?? 'ok',
    ...(owner ? { hubspot_owner_id: owner } : {}),
  }
}

/** HubSpot's textarea holds far more; a preview is a glance, and keeps batches small. */
const PREVIEW_CHARS = 200

function ownerIdOf(deps: CrmFlushDeps, chat: Chat): string | undefined {
  return chat.owner ? deps.rules().users.get(chat.owner)?.hubspotOwnerId : undefined
}
