import type { Logger } from 'pino'
import type { Clock } from '../src/clock.js'
import type { CrmPort } from '../src/crm/port.js'
import { phoneOf } from '../src/domain/jid.js'
import type { Chat } from '../src/inbox/chat.js'
import type { Ingestor } from '../src/inbox/ingest.js'
import type { InboxStore } from '../src/inbox/store.js'
import type { Metrics } from '../src/metrics.js'
import type { Rules } from '../src/rules/compile.js'
import type { SlaAction } from '../src/rules/schema.js'
import { nextLevel, renderSubject } from '../src/sla/policy.js'
import type { SlaClock, SlaStore } from '../src/sla/sla-store.js'
import { armLevel } from '../src/sla/sla-timer.js'
import {
  type CrmTaskJob,
  catalog,
  InvalidJobPayloadError,
  type JobProducer,
  type Processor,
  type SlaLevelJob,
  type SlaWebhookJob,
  slaActionRef,
} from './catalog.js'

/**
 * `sla-level`: one level of an escalation ladder, fired at its due instant. It re-reads the chat and
 * acts only if the same waiting period is still open (claimed atomically, so a reply applied first
 * wins), at most once per period and level; then logs the firing with each action's outcome.
 */
export interface SlaLevelDeps {
  sla: SlaStore
  inbox: InboxStore
  ingestor: Ingestor
  crm: CrmPort
  /** Where the actions' work is handed on (session actions, webhooks, CRM tasks). */
  jobs: JobProducer
  rules: () => Rules
  clock: Clock
  metrics: Metrics
  log: Logger
  /** Called when the chat's SLA state changed (CRM sync writes it to the contact). */
  onStateChange?: (sessionId: string, chatJid: string) => Promise<void>
}

type Outcome = { action: string; outcome: string; ok: boolean }

export function slaLevelProcessor(
  deps: SlaLevelDeps,
): Processor<typeof catalog.slaLevel, { fired: boolean; reason?: string }> {
  return async (d) => {
    const now = deps.clock.now()
    const claim = await deps.sla.claim(d.sessionId, d.chatJid, d.waitSeq, d.level, now)
    if (claim === 'stale') return { fired: false, reason: claim }
    // Fired before (a retry after a crash between firing and arming the next level): arm it now.
    if (claim === 'done') {
      await armNext(deps, d, await deps.sla.get(d.sessionId, d.chatJid))
      return { fired: false, reason: claim }
    }
    const rules = deps.rules()
    const session = rules.sessions.get(d.sessionId)
    const policy = rules.config.sla.policies.find((p) => p.id === d.policyId)
    const level = policy?.levels[d.level]
    const [chat, clock] = await Promise.all([
      deps.inbox.getChat(d.sessionId, d.chatJid),
      deps.sla.get(d.sessionId, d.chatJid),
    ])
    if (!session || !policy || !level || !chat || !clock) {
      await deps.sla.markDone(d.sessionId, d.chatJid, d.waitSeq, d.level)
      return { fired: false, reason: 'policy or chat no longer exists' }
    }
    const outcomes: Outcome[] = []
    for (const [i, action] of level.actions.entries()) {
      outcomes.push(await perform(deps, d, i, action, chat, policy.id))
    }
    const firedAt = deps.clock.now()
    await deps.sla.log(session.org, {
      sessionId: d.sessionId,
      chatJid: d.chatJid,
      policyId: policy.id,
      level: d.level,
      waitSeq: d.waitSeq,
      kind: clock.kind,
      waitingSince: clock.waitingSince,
      dueAt: d.dueAt,
      deadline: clock.deadline,
      firedAt,
      actions: outcomes,
    })
    await deps.sla.markDone(d.sessionId, d.chatJid, d.waitSeq, d.level)
    await armNext(deps, d, clock)
    // People count levels from 1 (the rules, the API, the dry-run); the job keeps the 0-based index.
    deps.metrics.slaBreaches.inc({ policy: policy.id, level: String(d.level + 1) })
    deps.metrics.slaLateness.observe(Math.max(0, firedAt - d.dueAt) / 1000)
    deps.log.info(
      // `slaLevel`, not `level`: pino's own `level` would then appear twice in the line.
      {
        sessionId: d.sessionId,
        chat: d.chatJid,
        policy: policy.id,
        slaLevel: d.level + 1,
        actions: outcomes,
      },
      'SLA level fired',
    )
    return { fired: true }
  }
}

/**
 * The ladder's next level gets its timer once this one is done: one timer per open clock. Only while
 * the clock is still the same waiting period (a reply meanwhile closed it, and the planner armed any new
 * period itself); the next level's own claim re-checks when it fires.
 */
async function armNext(deps: SlaLevelDeps, d: SlaLevelJob, clock: SlaClock | null): Promise<void> {
  if (!clock || clock.waitSeq !== d.waitSeq) return
  const next = nextLevel(clock.levels, new Set(), d.level)
  if (next) await armLevel(deps.jobs, clock, next, deps.clock.now())
}

async function perform(
  deps: SlaLevelDeps,
  d: SlaLevelJob,
  index: number,
  action: SlaAction,
  chat: Chat,
  policyId: string,
): Promise<Outcome> {
  // Ids of the work an action hands on, deterministic so a resumed firing does not do it twice.
  const key = {
    sessionId: d.sessionId,
    chatJid: d.chatJid,
    waitSeq: d.waitSeq,
    level: d.level,
    action: index,
  }
  const ref = slaActionRef(key)
  try {
    if ('markUnread' in action) {
      if (!chat.lastMessage)
        return { action: 'markUnread', outcome: 'skipped: no stored last message', ok: false }
      const target = {
        jid: chat.lastMessage.key.remoteJid,
        lastMessage: { key: chat.lastMessage.key, timestamp: chat.lastMessage.timestamp },
      }
      await deps.jobs.add(
        catalog.sessionAction,
        { action: 'markUnread', chat: target },
        { sessionId: d.sessionId, key: { slaAction: key } },
      )
      await deps.ingestor.ingest({
        type: 'chat.markedUnread',
        sessionId: d.sessionId,
        chatJid: chat.jid,
        at: deps.clock.now(),
      })
      return { action: 'markUnread', outcome: 'queued on the session', ok: true }
    }
    if ('setState' in action) {
      await deps.sla.setState(d.sessionId, d.chatJid, action.setState)
      await deps.onStateChange?.(d.sessionId, chat.jid)
      return { action: 'setState', outcome: action.setState, ok: true }
    }
    if ('reassign' in action) {
      const rules = deps.rules()
      const to =
        action.reassign.to === 'supervisor'
          ? chat.owner
            ? (rules.supervisorsOf(chat.owner)[0]?.id ?? null)
            : null
          : action.reassign.to
      if (!to) return { action: 'reassign', outcome: 'skipped: the owner has no supervisor', ok: false }
      if (to === chat.owner) return { action: 'reassign', outcome: `already owned by ${to}`, ok: true }
      await deps.ingestor.ingest({ type: 'chat.owner', sessionId: d.sessionId, chatJid: chat.jid, owner: to })
      return { action: 'reassign', outcome: `from ${chat.owner ?? 'unassigned'} to ${to}`, ok: true }
    }
    if ('webhook' in action) {
      const payload: SlaWebhookJob = {
        url: action.webhook.url,
        ...(action.webhook.secretEnv ? { secretEnv: action.webhook.secretEnv } : {}),
        event: {
          id: ref,
          type: 'sla.level_fired',
          sessionId: d.sessionId,
          chatJid: chat.jid,
          policyId,
          level: d.level + 1,
          // The period this level belongs to, even when it resumes after a crash and the chat moved on.
          waitingSince: new Date(d.waitingSince ?? chat.waitingSince ?? d.dueAt).toISOString(),
          dueAt: new Date(d.dueAt).toISOString(),
          unanswered: chat.unanswered,
          owner: chat.owner,
        },
      }
      await deps.jobs.add(catalog.slaWebhook, payload, { key })
      return { action: 'webhook', outcome: `queued to ${new URL(action.webhook.url).host}`, ok: true }
    }
    if ('crmTask' in action) {
      if (!deps.crm.enabled)
        return { action: 'crmTask', outcome: 'CRM sync is off (no HUBSPOT_ACCESS_TOKEN)', ok: false }
      const assignee = action.crmTask.assignTo === 'owner' ? chat.owner : action.crmTask.assignTo
      const phone = phoneOf(chat.jid) ?? (chat.altJid ? (phoneOf(chat.altJid) ?? null) : null)
      const task: CrmTaskJob = {
        sessionId: d.sessionId,
        chatJid: chat.jid,
        phone,
        assigneeUserId: assignee,
        priority: action.crmTask.priority,
        dueAt: deps.clock.now(),
        subject: renderSubject(action.crmTask.subject, {
          contact: chat.name ?? phone ?? chat.jid,
          chat: chat.jid,
          policy: policyId,
          level: String(d.level + 1),
          waiting: `${chat.unanswered} message${chat.unanswered === 1 ? '' : 's'}`,
        }),
      }
      await deps.jobs.add(catalog.crmTask, task, { key })
      return { action: 'crmTask', outcome: 'queued for HubSpot', ok: true }
    }
    return { action: 'unknown', outcome: 'skipped', ok: false }
  } catch (err) {
    // A payload its job's schema refuses stays refused however often the level is retried: the action is
    // recorded as failed and the ladder goes on.
    if (err instanceof InvalidJobPayloadError) {
      deps.log.error(
        { err, sessionId: d.sessionId, chat: d.chatJid, slaLevel: d.level + 1, action: index },
        'SLA action refused: its job payload is invalid',
      )
      return { action: Object.keys(action)[0] ?? 'unknown', outcome: `error: ${err.message}`, ok: false }
    }
    // Otherwise every action only hands work on (a queue add, an inbox write), so an error here is Redis or
    // a queue failing for now. The level fails and BullMQ retries it; the claim then resumes it and the
    // actions run again (their ids are fixed, so nothing is done twice). Recording the error and marking
    // the level done instead would lose the action for good.
    deps.log.warn(
      { err, sessionId: d.sessionId, chat: d.chatJid, slaLevel: d.level + 1, action: index },
      'SLA action could not be handed on; the level will be retried',
    )
    throw err
  }
}
