import type { Client } from '@hubspot/api-client'
import type { Redis } from 'ioredis'
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import type { Logger } from 'pino'
import type { Keys } from '../../keys.js'
import type { Rules } from '../../rules/compile.js'
import type { CrmOutcome, CrmPort, CrmTaskInput } from '../port.js'
import type { HubSpotBudget } from './budget.js'

export const PROPERTY_GROUP = 'tickbridge'

/** The contact properties Tickbridge writes; created on start when missing. */
export const CONTACT_PROPERTIES = [
  {
    name: 'wa_unanswered_count',
    label: 'WhatsApp: unanswered messages',
    type: 'number',
    fieldType: 'number',
  },
  {
    name: 'wa_awaiting_reply_since',
    label: 'WhatsApp: awaiting reply since',
    type: 'datetime',
    fieldType: 'date',
  },
  {
    name: 'wa_last_inbound_at',
    label: 'WhatsApp: last message from the contact',
    type: 'datetime',
    fieldType: 'date',
  },
  {
    name: 'wa_last_outbound_at',
    label: 'WhatsApp: last message to the contact',
    type: 'datetime',
    fieldType: 'date',
  },
  {
    name: 'wa_sla_state',
    label: 'WhatsApp: SLA state',
    type: 'enumeration',
    fieldType: 'select',
    options: ['ok', 'warning', 'breached'].map((v, i) => ({
      label: v,
      value: v,
      displayOrder: i,
      hidden: false,
    })),
  },
] as const

const CONTACT_TTL_S = 24 * 3600
const MISS_TTL_S = 600

/**
 * HubSpot behind the CRM port: finds contacts by phone (the OR search, verified, cached), creates tasks
 * for SLA levels, and owns the property setup. Every call takes a slot of the shared budget first.
 */
export class HubSpotCrm implements CrmPort {
  readonly enabled = true

  constructor(
    private readonly deps: {
      client: Client
      budget: HubSpotBudget
      redis: Redis
      keys: Keys
      rules: () => Rules
      log: Logger
    },
  ) {}

  /** Creates the property group and properties that are missing (idempotent; 409 = already there). */
  async ensureProperties(): Promise<{ created: string[] }> {
    const { client, budget } = this.deps
    const created: string[] = []
    await budget.take('general')
    const groups = await client.crm.properties.groupsApi.getAll('contacts')
    if (!groups.results.some((g) => g.name === PROPERTY_GROUP)) {
      await budget.take('general')
      await client.crm.properties.groupsApi
        .create('contacts', { name: PROPERTY_GROUP, label: 'Tickbridge (WhatsApp)', displayOrder: -1 })
        .catch(ignoreConflict)
      created.push(`group ${PROPERTY_GROUP}`)
    }
    await budget.take('general')
    const existing = new Set(
      (await client.crm.properties.coreApi.getAll('contacts')).results.map((p) => p.name),
    )
    for (const p of CONTACT_PROPERTIES) {
      if (existing.has(p.name)) continue
      await budget.take('general')
      await client.crm.properties.coreApi
        .create('contacts', {
          name: p.name,
          label: p.label,
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
   * The contact whose phone is `digits` (E.164 without +). Searches phone, mobile and WhatsApp number
   * (E.164) and the calculated searchable number (national digits), then verifies the match, since the
   * national form can collide across countries. Cached, including misses (briefly).
   */
  async contactByPhone(digits: string): Promise<string | null> {
    const { redis, keys, client, budget } = this.deps
    const cacheKey = keys.global('crm:contact-by-phone')
    const cached = await redis.hget(cacheKey, digits)
    if (cached) return cached
    if (await redis.exists(keys.global(`crm:no-contact:${digits}`))) return null
    const e164 = `+${digits}`
    // HubSpot keeps a "searchable" national form (no country code) of each contact's numbers.
    const national = parsePhoneNumberFromString(e164)?.nationalNumber ?? digits
    await budget.take('search')
    const res = await client.crm.contacts.searchApi.doSearch({
      filterGroups: [
        { filters: [{ propertyName: 'phone', operator: 'EQ' as never, value: e164 }] },
        { filters: [{ propertyName: 'mobilephone', operator: 'EQ' as never, value: e164 }] },
        { filters: [{ propertyName: 'hs_whatsapp_phone_number', operator: 'EQ' as never, value: e164 }] },
        {
          filters: [
            {
              propertyName: 'hs_searchable_calculated_phone_number',
              operator: 'EQ' as never,
              value: national,
            },
          ],
        },
      ],
      properties: [
        'phone',
        'mobilephone',
        'hs_whatsapp_phone_number',
        'hs_searchable_calculated_phone_number',
      ],
      limit: 10,
      after: '0',
      sorts: [],
    })
    const match = res.results.find((c) =>
      ['phone', 'mobilephone', 'hs_whatsapp_phone_number'].some(
        (p) => onlyDigits(c.properties[p]) === digits,
      ),
    )
    if (!match) {
      await redis.set(keys.global(`crm:no-contact:${digits}`), '1', 'EX', MISS_TTL_S)
      return null
    }
    await redis.hset(cacheKey, digits, match.id)
    await redis.expire(cacheKey, CONTACT_TTL_S)
    return match.id
  }

  /** Remembers which chats a contact's properties come from (for HubSpot's webhooks). */
  async linkChat(contactId: string, sessionId: string, chatJid: string): Promise<void> {
    await this.deps.redis.sadd(this.deps.keys.global(`crm:chats-of:${contactId}`), `${sessionId}|${chatJid}`)
  }

  async chatsOf(contactId: string): Promise<Array<{ sessionId: string; chatJid: string }>> {
    const members = await this.deps.redis.smembers(this.deps.keys.global(`crm:chats-of:${contactId}`))
    return members.map((m) => {
      const [sessionId, chatJid] = m.split('|') as [string, string]
      return { sessionId, chatJid }
    })
  }

  /** Drops a cached contact id HubSpot no longer knows (deleted or merged). */
  async forgetContact(digits: string): Promise<void> {
    await this.deps.redis.hdel(this.deps.keys.global('crm:contact-by-phone'), digits)
  }

  async createTask(input: CrmTaskInput): Promise<CrmOutcome> {
    if (!input.phone) return { ok: false, skipped: 'no phone number known for this chat yet (LID only)' }
    const contactId = await this.contactByPhone(input.phone)
    if (!contactId) return { ok: false, skipped: `no HubSpot contact with phone +${input.phone}` }
    const owner = input.assigneeUserId
      ? this.deps.rules().users.get(input.assigneeUserId)?.hubspotOwnerId
      : undefined
    await this.deps.budget.take('general')
    const task = await this.deps.client.crm.objects.tasks.basicApi.create({
      properties: {
        hs_task_subject: input.subject,
        hs_task_priority: input.priority,
        hs_task_status: 'NOT_STARTED',
        hs_timestamp: new Date(input.dueAt).toISOString(),
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

function onlyDigits(v: string | null | undefined): string {
  return (v ?? '').replace(/\D/g, '')
}

function ignoreConflict(err: unknown): void {
  if ((err as { code?: number }).code !== 409) throw err
}
