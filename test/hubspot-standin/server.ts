import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import type { CountryCode } from 'libphonenumber-js'
import { DateTime } from 'luxon'
import { contactCountry, searchableDigits } from './phone.js'
import { type DeliveryReport, type WebhookEvent, WebhookOutbox, type WebhookTarget } from './webhooks.js'

export { searchableDigits } from './phone.js'
export type { WebhookEvent, WebhookTarget } from './webhooks.js'

/**
 * A local stand-in for HubSpot's CRM v3 API, for the calls Tickbridge makes through `@hubspot/api-client`
 * (point the real client at it with `new Client({ accessToken, basePath: standIn.url })`).
 *
 * What it models, and where the model comes from:
 * - contacts: `batch/update` (<= 100 inputs, 207 with one OBJECT_NOT_FOUND error listing the unknown ids,
 *   the rest applied; duplicate ids and invalid property values fail the whole batch with 400), `search`
 *   (EQ/NEQ/IN/NOT_IN/HAS_PROPERTY/NOT_HAS_PROPERTY/CONTAINS_TOKEN, AND inside a filter group, OR across
 *   groups; tasks too, read live),
 *   `GET`/`PATCH /crm/v3/objects/contacts/{id}`;
 * - owners (`GET /crm/v3/owners/`, paged with `after`), contact/task properties and property groups
 *   (create answers 409 when the name exists), tasks with associations (204 = task -> contact);
 * - bearer-token auth (401), a rolling window per token (default 100 per 10 s, 429 TEN_SECONDLY_ROLLING),
 *   a daily budget (429 DAILY), the search limit (default 5 per s, 429 SECONDLY with the message the client's
 *   RetryDecorator matches), `X-HubSpot-RateLimit-*` headers. Only admitted requests use up a budget; a
 *   429 answer does not (HubSpot does not document which way it counts).
 * Error bodies follow HubSpot's `{status:'error', message, correlationId, category, context?}`; rate-limit
 * bodies `{status:'error', message, errorType:'RATE_LIMIT', correlationId, policyName, groupName?, requestId}`.
 * Messages are close to HubSpot's, not guaranteed verbatim: branch on status, category and policyName.
 *
 * A real portal's behaviours, each from the doc named beside its code:
 * - searchable phone numbers computed from what a user typed (phone.ts; HubSpot search guide);
 * - search index lag: a created or changed contact is found by search only `searchLagMs` later (search
 *   guide: "it may take a few moments for newly created or updated objects to appear in search");
 * - one invalid value (unknown owner id, option not in an enumeration) fails a whole `batch/update` with
 *   400 ("Using object APIs", batch endpoints validate the whole request); 423 Locked when a record is
 *   written while an earlier write to it is still in progress (`recordLockMs`; usage guidelines: "423
 *   Locked ... wait at least 2 seconds before retrying");
 * - faults: `hang` (no answer, no reset), 429 with the three policies' real bodies, 477 Migration in
 *   progress (error-handling guide);
 * - signed (v1 and v3) webhook batches for property changes (including the echo of our own API writes,
 *   with `changeSource`), creation, merge (a new id), deletion, GDPR deletion and restore, retried with
 *   `attemptNumber` (also when the receiver takes over 5 s), out of order, with event ids that are not
 *   unique (webhooks.ts);
 * - the search guide's limits: a 3,000-character body, 5 filter groups of at most 6 filters, 18 in all,
 *   10,000 results per query; the search rate counted per account, not per token;
 * - 403 MISSING_SCOPES naming `requiredGranularScopes` for a token without a scope (`revokeScopes`);
 * - `GET /account-info/v3/api-usage/daily/private-apps` and `GET /account-info/v3/details` (the daily
 *   reset at midnight in the portal's time zone).
 *
 * It is test infrastructure: every request is logged (`requests`), faults can be injected (`failNext`,
 * `setLatency`), and the store can be seeded and read back (`addContact`, `contact`, `addOwner`, `tasks`).
 * Run it on its own (for a demo) with `tsx test/hubspot-standin/server.ts` (HUBSPOT_STANDIN_PORT, default 0).
 */

export const STANDIN_TOKEN = 'pat-test'

export type RateLimitPolicy = 'TEN_SECONDLY_ROLLING' | 'DAILY' | 'SECONDLY'

export interface StandInLimits {
  /** Admitted requests per token in any rolling `windowMs` (HubSpot: 100 per 10 s on Free/Starter, 190 Pro). */
  perTenSeconds: number
  /** Length of the rolling window; 10,000 like HubSpot, shorter in tests. */
  windowMs: number
  /** Admitted requests per token until `resetDaily()` (HubSpot: 250k-1M, reset at the account's midnight). */
  daily: number
  /** Admitted search requests per token in any `searchWindowMs`. */
  searchPerSecond: number
  searchWindowMs: number
}

export interface StandInOptions {
  /** 0 (default) = a random free port. Always bound to 127.0.0.1. */
  port?: number
  limits?: Partial<StandInLimits>
  /** Accepted bearer tokens; default `['pat-test']`. */
  tokens?: string[]
  /**
   * Validate written property values like HubSpot does (unknown or read-only property, bad number, date,
   * option or owner id -> 400 for the whole request; tasks need `hs_timestamp`). Default true.
   */
  strictProperties?: boolean
  /** The stand-in's own clock for search lag, webhook `occurredAt` and the daily reset; default Date.now. */
  clock?: () => number
  /** How long a created or changed contact stays invisible to search (HubSpot: a few seconds). Default 0. */
  searchLagMs?: number
  /** The portal's default country for numbers typed without `+` (default US, as a US portal). */
  defaultCountry?: CountryCode
  /** How long a write keeps its records locked: a write to a locked record is a 423. Default 0. */
  recordLockMs?: number
  /** The portal's time zone (account details, daily reset). Default US/Eastern like a new US portal. */
  timeZone?: string
  portalId?: number
  /** The app whose token writes (the `sourceId` of its webhook echoes). */
  appId?: number
  /** Contact properties whose changes are sent as webhooks (propertyChange subscriptions). */
  webhookProperties?: string[]
  /** Real milliseconds a webhook receiver has to answer before the delivery is retried (HubSpot: 5 s). */
  webhookTimeoutMs?: number
}

export interface RequestRecord {
  /** Arrival time, `Date.now()`. */
  at: number
  method: string
  /** Path without the query string. */
  path: string
  /** Query string including the leading `?`, or ''. */
  query: string
  /** Status answered; 0 when the connection was dropped (`failNext({ status: 'timeout' })`). */
  status: number
  /** Parsed JSON body (the raw text if it was not JSON), undefined when empty. */
  body: unknown
  /** The bearer token presented, valid or not; undefined when there was no Authorization header. */
  token?: string
  /** Set on 429s. */
  policyName?: RateLimitPolicy
  /** Set when the answer came from `failNext`. */
  injected?: boolean
}

export interface FaultSpec {
  /**
   * A status to answer (429, 423, 477, 500, 502, 503, anything), `'timeout'` (hold the request `delayMs`, then
   * drop the connection without an answer), `'hang'` (never answer and never reset the connection: only the
   * client can give up) or `'slow'` (hold `delayMs`, then answer normally).
   */
  status: number | 'timeout' | 'slow' | 'hang'
  /** For 429: which limit the body names. Default TEN_SECONDLY_ROLLING. */
  policy?: RateLimitPolicy
  /** How many matching requests get this fault. Default 1. */
  times?: number
  /** Hold the answer this long. Default 0 (`'timeout'`: 30 s). */
  delayMs?: number
  /** Only requests whose path starts with this. */
  path?: string
  /** Only requests with this method. */
  method?: string
  /** Replace the body: an object is sent as JSON, a string as text/html. */
  body?: unknown
  headers?: Record<string, string>
  /** `'timeout'` only: carry the request out before dropping the connection (the write happened, the answer was lost). */
  applied?: boolean
}

/** Who made a change inside HubSpot (webhook `changeSource`/`sourceId`). */
export interface ChangeBy {
  changeSource?: 'CRM_UI' | 'WORKFLOWS' | 'IMPORT' | 'INTEGRATION' | 'API'
  sourceId?: string
}

export interface StandInObject {
  id: string
  properties: Record<string, string | null>
  createdAt: string
  updatedAt: string
  archived: boolean
}

export interface StandInAssociation {
  toObjectId: string
  associationCategory: string
  associationTypeId: number
}

export interface StandInTask extends StandInObject {
  associations: StandInAssociation[]
}

export interface StandInOwner {
  id: string
  email: string
  firstName: string
  lastName: string
  userId: number
  userIdIncludingInactive: number
  type: 'PERSON' | 'QUEUE'
  createdAt: string
  updatedAt: string
  archived: boolean
  teams: Array<{ id: string; name: string; primary: boolean }>
}

export interface StandInOption {
  label: string
  value: string
  displayOrder?: number
  hidden?: boolean
  description?: string
}

export interface StandInProperty {
  name: string
  label: string
  type: string
  fieldType: string
  groupName: string
  description: string
  options: StandInOption[]
  displayOrder: number
  hidden: boolean
  formField: boolean
  calculated: boolean
  externalOptions: boolean
  hasUniqueValue: boolean
  hubspotDefined: boolean
  createdAt: string
  updatedAt: string
  archived: boolean
  modificationMetadata: {
    archivable: boolean
    readOnlyDefinition: boolean
    readOnlyValue: boolean
  }
}

export interface StandInPropertyGroup {
  name: string
  label: string
  displayOrder: number
  archived: boolean
}

export interface StandInStats {
  total: number
  byStatus: Record<string, number>
  tooManyRequests: number
  rateLimited: Record<RateLimitPolicy, number>
}

export interface HubSpotStandIn {
  /** `http://127.0.0.1:<port>`: the client's `basePath`. */
  readonly url: string
  readonly port: number
  /** The first accepted token. */
  readonly token: string
  /** Every request, in arrival order (401s and 429s included). */
  readonly requests: RequestRecord[]
  /** Tasks created, with their associations. */
  readonly tasks: StandInTask[]
  /** Contact properties (HubSpot's built-ins, `hubspotDefined: true`, and the created ones). */
  readonly properties: StandInProperty[]
  /** Contact property groups. */
  readonly propertyGroups: StandInPropertyGroup[]
  readonly limits: Readonly<StandInLimits>

  addContact(input: { id?: string; properties?: Record<string, string | number | null> }): StandInObject
  /** A copy of the contact, or undefined. */
  contact(id: string): StandInObject | undefined
  contacts(): StandInObject[]
  /** Remove a contact (later writes to it get OBJECT_NOT_FOUND); sends `contact.deletion`. */
  deleteContact(id: string): boolean
  /**
   * GDPR deletion: the contact and its history are gone for good (it cannot be restored); sends
   * `contact.privacyDeletion` (webhooks guide, contact subscription types).
   */
  gdprDeleteContact(id: string): boolean
  /** Restores a contact deleted (not GDPR-deleted) within 90 days, same id; sends `contact.restore`. */
  restoreContact(id: string): StandInObject
  /** A contact created in HubSpot's UI (or a form): sends `contact.creation`; search finds it after the lag. */
  createContact(properties: Record<string, string | number | null>, by?: ChangeBy): StandInObject
  /** A change made in HubSpot (a user in the UI, a workflow): sends property-change webhooks. */
  editContact(id: string, properties: Record<string, string | null>, by?: ChangeBy): StandInObject
  /**
   * HubSpot's merge: the two records become one with a NEW id (primary's values win, empty ones are
   * filled from the other); both old ids stop existing. Sends `contact.merge`.
   */
  mergeContacts(primaryId: string, mergedId: string): StandInObject
  /** Where webhooks go; null stops delivery (events still queue). */
  setWebhookTarget(target: WebhookTarget | null): void
  /** Webhook events queued for the next delivery. */
  pendingWebhooks(): WebhookEvent[]
  clearWebhooks(): void
  /** Deliver what is queued (see WebhookOutbox.deliver). */
  deliverWebhooks(opts?: Parameters<WebhookOutbox['deliver']>[0]): Promise<DeliveryReport[]>
  /** Every webhook request sent, with the status answered. */
  readonly webhookDeliveries: WebhookOutbox['sent']
  addOwner(input: {
    id?: string
    email: string
    firstName?: string
    lastName?: string
    userId?: number
    archived?: boolean
    teams?: StandInOwner['teams']
  }): StandInOwner
  owners(): StandInOwner[]
  propertiesOf(objectType: string): StandInProperty[]
  /**
   * Seed a property as if it had been created before (no request logged); its group is created too if
   * missing. Defaults: a `string`/`text` contact property in group `tickbridge`.
   */
  addProperty(
    input: Partial<Omit<StandInProperty, 'name'>> & { name: string },
    objectType?: 'contacts' | 'tasks',
  ): StandInProperty

  /** The token loses these granular scopes: calls needing one answer 403 naming it. */
  revokeScopes(scopes: string[]): void
  grantAllScopes(): void
  /** Queue a fault for the next matching request(s); faults are used in the order queued. */
  failNext(fault: FaultSpec): void
  clearFaults(): void
  /** Delay every answer by `ms`. */
  setLatency(ms: number): void
  setLimits(limits: Partial<StandInLimits>): void
  /** Midnight: the daily budgets start again. */
  resetDaily(): void
  /** Admitted requests counted against each budget of a token right now. */
  usage(token?: string): { inWindow: number; searchInWindow: number; today: number }

  /** Requests whose path starts with `pathPrefix` (and, if given, with `method`). */
  callsTo(pathPrefix: string, method?: string): RequestRecord[]
  /** The most requests seen in any `windowMs` (default 10 s) span; `filter` narrows which requests count. */
  maxRequestsInAnyWindow(windowMs?: number, filter?: (r: RequestRecord) => boolean): number
  stats(): StandInStats
  /** Forget the request log (budgets, data and faults stay). */
  clearRequests(): void
  /** Back to a fresh stand-in: data, log, budgets, faults, latency (the limits set stay). */
  reset(): void
  close(): Promise<void>
}

const DEFAULT_LIMITS: StandInLimits = {
  perTenSeconds: 100,
  windowMs: 10_000,
  daily: 1_000_000,
  searchPerSecond: 5,
  searchWindowMs: 1_000,
}

const MAX_BATCH_INPUTS = 100
const MAX_SEARCH_LIMIT = 200
/**
 * CRM search guide, "Limitations" (https://developers.hubspot.com/docs/guides/api/crm/search#limitations):
 * up to 5 filterGroups with up to 6 filters each, 18 filters in all (the August 2024 changelog named
 * 25 and 10; the guide's stricter numbers are modelled); "the request body is limited to 3,000
 * characters"; "search endpoints are limited to 10,000 total results for any given query. Attempting to
 * page beyond 10,000 will result in a 400 error".
 */
const MAX_FILTER_GROUPS = 5
const MAX_FILTERS_PER_GROUP = 6
const MAX_FILTERS = 18
export const MAX_SEARCH_BODY_CHARS = 3000
const MAX_SEARCH_RESULTS = 10_000
const TIMEOUT_HOLD_MS = 30_000
const OBJECT_TYPES = ['contacts', 'tasks'] as const
type ObjectType = (typeof OBJECT_TYPES)[number]

const UNAUTHORIZED_MESSAGE =
  'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more ' +
  'details at https://developers.hubspot.com/docs/methods/auth/oauth-overview'

const RATE_LIMIT_MESSAGES: Record<RateLimitPolicy, string> = {
  TEN_SECONDLY_ROLLING: 'You have reached your ten_secondly_rolling limit.',
  DAILY: 'You have reached your daily limit.',
  // The exact text @hubspot/api-client's RetryDecorator looks for to retry a search after 1 s.
  SECONDLY: 'You have reached your secondly limit.',
}

/** Default properties answered for a contact when none are asked for. */
const DEFAULT_CONTACT_PROPERTIES = [
  'createdate',
  'email',
  'firstname',
  'hs_object_id',
  'lastmodifieddate',
  'lastname',
]
const ALWAYS_RETURNED = ['createdate', 'hs_object_id', 'lastmodifieddate']

interface Reply {
  status: number
  body?: unknown
  headers?: Record<string, string>
  policyName?: RateLimitPolicy
}

interface QueuedFault extends FaultSpec {
  remaining: number
}

type Json = Record<string, unknown>

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function errorReply(status: number, category: string, message: string, extra: Json = {}): Reply {
  return { status, body: { status: 'error', message, correlationId: randomUUID(), category, ...extra } }
}

function validationError(message: string, extra: Json = {}): Reply {
  return errorReply(400, 'VALIDATION_ERROR', message, extra)
}

function rateLimitBody(policy: RateLimitPolicy): Json {
  return {
    status: 'error',
    message: RATE_LIMIT_MESSAGES[policy],
    errorType: 'RATE_LIMIT',
    correlationId: randomUUID(),
    policyName: policy,
    groupName: policy === 'SECONDLY' ? 'publicapi:search' : 'publicapi',
    requestId: randomUUID(),
  }
}

/**
 * A token without a scope the call needs: 403 MISSING_SCOPES naming them in
 * `errors[].context.requiredGranularScopes` (the body HubSpot answers; scopes guide,
 * https://developers.hubspot.com/docs/guides/apps/authentication/scopes).
 */
export function missingScopesBody(scopes: string[]): Json {
  return {
    status: 'error',
    message:
      "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
    correlationId: randomUUID(),
    errors: [
      {
        message: 'One or more of the following scopes are required.',
        context: { requiredGranularScopes: scopes },
      },
    ],
    links: { scopes: 'https://developers.hubspot.com/scopes' },
    category: 'MISSING_SCOPES',
  }
}

/** The granular scope each modelled call needs (scopes guide; tasks are left unscoped here). */
function requiredScope(method: string, path: string): string | undefined {
  const write = method !== 'GET'
  if (path.startsWith('/crm/v3/properties/contacts'))
    return write ? 'crm.schemas.contacts.write' : 'crm.schemas.contacts.read'
  if (path === '/crm/v3/objects/contacts/search') return 'crm.objects.contacts.read'
  if (path.startsWith('/crm/v3/objects/contacts'))
    return write ? 'crm.objects.contacts.write' : 'crm.objects.contacts.read'
  if (path.startsWith('/crm/v3/owners')) return 'crm.objects.owners.read'
  return undefined
}

function defaultFaultBody(status: number, policy: RateLimitPolicy): unknown {
  if (status === 429) return rateLimitBody(policy)
  if (status === 403) return missingScopesBody(['crm.objects.contacts.write'])
  if (status === 502 || status === 503) {
    // HubSpot's edge answers gateway errors with an HTML page, not JSON.
    return `<html><head><title>${status}</title></head><body><h1>${status} ${status === 502 ? 'Bad Gateway' : 'Service Unavailable'}</h1></body></html>`
  }
  if (status === 423) {
    // Usage guidelines: concurrent writes to one record answer 423 Locked; retry after at least 2 s.
    return {
      status: 'error',
      message: 'The record is locked by another request; try again in at least 2 seconds.',
      correlationId: randomUUID(),
      category: 'LOCKED',
    }
  }
  if (status === 477) {
    // Error-handling guide: 477 Migration in Progress while the portal moves between data centres.
    return {
      status: 'error',
      message: 'Migration in progress: retry after the Retry-After interval.',
      correlationId: randomUUID(),
      category: 'MIGRATION_IN_PROGRESS',
    }
  }
  if (status >= 500) {
    return {
      status: 'error',
      message: 'internal error',
      correlationId: randomUUID(),
      category: 'INTERNAL_ERROR',
    }
  }
  return {
    status: 'error',
    message: `injected ${status}`,
    correlationId: randomUUID(),
    category: 'VALIDATION_ERROR',
  }
}

function builtInProperty(
  name: string,
  label: string,
  type: string,
  fieldType: string,
  groupName: string,
  extra: Partial<StandInProperty> = {},
): StandInProperty {
  const at = '2019-08-06T02:41:08.000Z'
  return {
    name,
    label,
    type,
    fieldType,
    groupName,
    description: '',
    options: [],
    displayOrder: -1,
    hidden: false,
    formField: false,
    calculated: false,
    externalOptions: false,
    hasUniqueValue: false,
    hubspotDefined: true,
    createdAt: at,
    updatedAt: at,
    archived: false,
    modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: false },
    ...extra,
  }
}

const READ_ONLY = {
  modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: true },
}

function builtInProperties(objectType: ObjectType): StandInProperty[] {
  if (objectType === 'contacts') {
    const g = 'contactinformation'
    return [
      builtInProperty('firstname', 'First Name', 'string', 'text', g),
      builtInProperty('lastname', 'Last Name', 'string', 'text', g),
      builtInProperty('email', 'Email', 'string', 'text', g),
      builtInProperty('company', 'Company Name', 'string', 'text', g),
      builtInProperty('phone', 'Phone Number', 'string', 'phonenumber', g),
      builtInProperty('mobilephone', 'Mobile Phone Number', 'string', 'phonenumber', g),
      builtInProperty('hs_whatsapp_phone_number', 'WhatsApp Phone Number', 'string', 'phonenumber', g),
      builtInProperty(
        'hs_searchable_calculated_phone_number',
        'Phone Number (searchable)',
        'string',
        'text',
        g,
        {
          calculated: true,
          ...READ_ONLY,
        },
      ),
      builtInProperty(
        'hs_searchable_calculated_mobile_number',
        'Mobile Number (searchable)',
        'string',
        'text',
        g,
        {
          calculated: true,
          ...READ_ONLY,
        },
      ),
      builtInProperty('hubspot_owner_id', 'Contact owner', 'enumeration', 'select', 'sales_properties', {
        externalOptions: true,
      }),
      builtInProperty('lifecyclestage', 'Lifecycle Stage', 'enumeration', 'radio', g, {
        options: [
          'subscriber',
          'lead',
          'marketingqualifiedlead',
          'salesqualifiedlead',
          'opportunity',
          'customer',
        ].map((value, displayOrder) => ({ label: value, value, displayOrder, hidden: false })),
      }),
      builtInProperty('createdate', 'Create Date', 'datetime', 'date', g, READ_ONLY),
      builtInProperty('lastmodifieddate', 'Last Modified Date', 'datetime', 'date', g, READ_ONLY),
      builtInProperty('hs_object_id', 'Record ID', 'number', 'number', g, READ_ONLY),
    ]
  }
  const g = 'task'
  const options = (values: string[]) =>
    values.map((value, displayOrder) => ({ label: value, value, displayOrder, hidden: false }))
  return [
    builtInProperty('hs_timestamp', 'Due date', 'datetime', 'date', g),
    builtInProperty('hs_task_subject', 'Task Title', 'string', 'text', g),
    builtInProperty('hs_task_body', 'Notes', 'string', 'html', g),
    builtInProperty('hs_task_status', 'Task Status', 'enumeration', 'select', g, {
      options: options(['NOT_STARTED', 'IN_PROGRESS', 'WAITING', 'COMPLETED', 'DEFERRED']),
    }),
    builtInProperty('hs_task_priority', 'Priority', 'enumeration', 'select', g, {
      options: options(['NONE', 'LOW', 'MEDIUM', 'HIGH']),
    }),
    builtInProperty('hs_task_type', 'Task Type', 'enumeration', 'select', g, {
      options: options([
        'TODO',
        'CALL',
        'EMAIL',
        'LINKED_IN',
        'MEETING',
        'LINKED_IN_CONNECT',
        'LINKED_IN_MESSAGE',
      ]),
    }),
    builtInProperty('hubspot_owner_id', 'Assigned to', 'enumeration', 'select', g, { externalOptions: true }),
    builtInProperty('hs_createdate', 'Create date', 'datetime', 'date', g, READ_ONLY),
    builtInProperty('hs_lastmodifieddate', 'Last modified date', 'datetime', 'date', g, READ_ONLY),
    builtInProperty('hs_object_id', 'Record ID', 'number', 'number', g, READ_ONLY),
  ]
}

function builtInGroups(objectType: ObjectType): StandInPropertyGroup[] {
  if (objectType === 'contacts') {
    return [
      { name: 'contactinformation', label: 'Contact information', displayOrder: 0, archived: false },
      { name: 'sales_properties', label: 'Sales properties', displayOrder: 1, archived: false },
    ]
  }
  return [{ name: 'task', label: 'Task information', displayOrder: 0, archived: false }]
}

const PROPERTY_TYPES = new Set(['string', 'number', 'date', 'datetime', 'enumeration', 'bool'])
const FIELD_TYPES = new Set([
  'text',
  'textarea',
  'number',
  'date',
  'select',
  'radio',
  'checkbox',
  'booleancheckbox',
  'phonenumber',
  'calculation_equation',
  'file',
  'html',
])

interface PropertyValidation {
  isValid: false
  message: string
  error: string
  name: string
  localizedErrorMessage: string
}

function invalid(name: string, error: string, message: string): PropertyValidation {
  return { isValid: false, message, error, name, localizedErrorMessage: message }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '')
  return match?.[1]?.trim() || undefined
}

function pickProperties(
  obj: StandInObject,
  requested: string[] | undefined,
  defaults: string[],
): Record<string, string | null> {
  const names =
    requested && requested.length > 0 ? [...new Set([...requested, ...ALWAYS_RETURNED])] : defaults
  const out: Record<string, string | null> = {}
  for (const name of names) out[name] = obj.properties[name] ?? null
  return out
}

function publicObject(obj: StandInObject, properties: Record<string, string | null>): Json {
  return {
    id: obj.id,
    properties,
    createdAt: obj.createdAt,
    updatedAt: obj.updatedAt,
    archived: obj.archived,
  }
}

function copyObject<T extends StandInObject>(obj: T): T {
  return structuredClone(obj)
}

/** Start the stand-in on 127.0.0.1 (`port` 0 = random). */
export async function startHubSpotStandIn(opts: StandInOptions = {}): Promise<HubSpotStandIn> {
  const limits: StandInLimits = { ...DEFAULT_LIMITS, ...opts.limits }
  const tokens = new Set(opts.tokens ?? [STANDIN_TOKEN])
  const strict = opts.strictProperties ?? true
  const clock = opts.clock ?? Date.now
  const searchLagMs = opts.searchLagMs ?? 0
  const defaultCountry = opts.defaultCountry ?? 'US'
  const recordLockMs = opts.recordLockMs ?? 0
  const timeZone = opts.timeZone ?? 'US/Eastern'
  const portalId = opts.portalId ?? 62515
  const appId = opts.appId ?? 1160452
  const webhookProperties = new Set(
    opts.webhookProperties ?? [
      'hubspot_owner_id',
      'wa_no_reply_needed',
      'phone',
      'mobilephone',
      'hs_whatsapp_phone_number',
    ],
  )
  const outbox = new WebhookOutbox({ portalId, appId }, clock, opts.webhookTimeoutMs)
  /**
   * The search index: what search sees of each contact, from when (search guide: results lag writes).
   * Each write appends a snapshot visible at `at`; a search reads the newest visible one.
   */
  let searchIndex = new Map<string, Array<{ at: number; properties: Record<string, string | null> | null }>>()
  /** Records a write still holds (real time: concurrency is about overlapping requests). */
  let lockedUntil = new Map<string, number>()
  const hung = new Set<IncomingMessage>()

  const requests: RequestRecord[] = []
  const contacts = new Map<string, StandInObject>()
  /** Deleted contacts HubSpot can still restore (the recycling bin keeps them 90 days). */
  const recycled = new Map<string, StandInObject>()
  const tasks: StandInTask[] = []
  const owners: StandInOwner[] = []
  const properties = new Map<ObjectType, Map<string, StandInProperty>>()
  const groups = new Map<ObjectType, Map<string, StandInPropertyGroup>>()
  let faults: QueuedFault[] = []
  let latencyMs = 0
  let nextContactId = 1001
  let nextTaskId = 70001
  let nextOwnerId = 5001
  let nextUserId = 9001
  // Admitted request times per token (rolling window and search window) and today's count per token.
  let windows = new Map<string, number[]>()
  let searchWindows = new Map<string, number[]>()
  let daily = new Map<string, number>()
  const timers = new Set<NodeJS.Timeout>()
  /** The key of the account-wide search window. */
  const ACCOUNT = `portal:${opts.portalId ?? 62515}`
  let revoked = new Set<string>()

  function seedSchema(): void {
    properties.clear()
    groups.clear()
    for (const type of OBJECT_TYPES) {
      properties.set(type, new Map(builtInProperties(type).map((p) => [p.name, p])))
      groups.set(type, new Map(builtInGroups(type).map((g) => [g.name, g])))
    }
  }
  seedSchema()

  function propsOf(type: ObjectType): Map<string, StandInProperty> {
    return properties.get(type)!
  }

  function groupsOf(type: ObjectType): Map<string, StandInPropertyGroup> {
    return groups.get(type)!
  }

  function sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer)
        resolve()
      }, ms)
      timers.add(timer)
    })
  }

  // --- budgets -------------------------------------------------------------------------------------------

  function recent(map: Map<string, number[]>, token: string, now: number, span: number): number[] {
    const times = (map.get(token) ?? []).filter((t) => now - t < span)
    map.set(token, times)
    return times
  }

  /** Admit a request against every budget of its token, or name the policy that refuses it. */
  function admit(token: string, isSearch: boolean, now: number): RateLimitPolicy | undefined {
    const today = daily.get(token) ?? 0
    if (today >= limits.daily) return 'DAILY'
    const inWindow = recent(windows, token, now, limits.windowMs)
    if (inWindow.length >= limits.perTenSeconds) return 'TEN_SECONDLY_ROLLING'
    // The search limit is per account, whatever token asks (usage guidelines: "5 requests per second"
    // for the CRM search endpoints, counted per account).
    const searches = recent(searchWindows, ACCOUNT, now, limits.searchWindowMs)
    if (isSearch && searches.length >= limits.searchPerSecond) return 'SECONDLY'
    inWindow.push(now)
    if (isSearch) searches.push(now)
    daily.set(token, today + 1)
    return undefined
  }

  function rateHeaders(token: string): Record<string, string> {
    const now = Date.now()
    const inWindow = recent(windows, token, now, limits.windowMs).length
    const today = daily.get(token) ?? 0
    return {
      'x-hubspot-ratelimit-interval-milliseconds': String(limits.windowMs),
      'x-hubspot-ratelimit-max': String(limits.perTenSeconds),
      'x-hubspot-ratelimit-remaining': String(Math.max(0, limits.perTenSeconds - inWindow)),
      'x-hubspot-ratelimit-daily': String(limits.daily),
      'x-hubspot-ratelimit-daily-remaining': String(Math.max(0, limits.daily - today)),
    }
  }

  function takeFault(method: string, path: string): QueuedFault | undefined {
    const index = faults.findIndex(
      (f) => (!f.path || path.startsWith(f.path)) && (!f.method || f.method.toUpperCase() === method),
    )
    if (index < 0) return undefined
    const fault = faults[index]!
    fault.remaining -= 1
    if (fault.remaining <= 0) faults.splice(index, 1)
    return fault
  }

  // --- property values ------------------------------------------------------------------------------------

  /** Validate and normalise written values the way HubSpot does; errors fail the whole request. */
  function checkValues(
    type: ObjectType,
    input: unknown,
  ): { values: Record<string, string>; errors: PropertyValidation[] } {
    const values: Record<string, string> = {}
    const errors: PropertyValidation[] = []
    if (!isRecord(input)) return { values, errors }
    for (const [name, raw] of Object.entries(input)) {
      const value = raw === null || raw === undefined ? '' : String(raw)
      const def = propsOf(type).get(name)
      if (!strict) {
        values[name] = value
        continue
      }
      if (!def) {
        errors.push(invalid(name, 'PROPERTY_DOESNT_EXIST', `Property "${name}" does not exist`))
        continue
      }
      if (def.modificationMetadata.readOnlyValue || def.calculated) {
        errors.push(
          invalid(name, 'READ_ONLY_VALUE', `"${name}" is a read only property; its value cannot be set.`),
        )
        continue
      }
      if (value === '') {
        values[name] = ''
        continue
      }
      if (name === 'hubspot_owner_id') {
        if (!owners.some((o) => o.id === value && !o.archived)) {
          errors.push(invalid(name, 'INVALID_OWNER_ID', `${value} is not a valid owner id`))
          continue
        }
      } else if (def.type === 'number') {
        if (!/^-?\d+(\.\d+)?$/.test(value.trim())) {
          errors.push(invalid(name, 'INVALID_DECIMAL', `${value} was not a valid number.`))
          continue
        }
      } else if (def.type === 'datetime' || def.type === 'date') {
        const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
        if (!Number.isFinite(ms)) {
          errors.push(invalid(name, 'INVALID_DATE', `${value} was not a valid date.`))
          continue
        }
        values[name] = new Date(ms).toISOString()
        continue
      } else if (def.type === 'enumeration' && def.options.length > 0) {
        const allowed = def.options.map((o) => o.value)
        const chosen = def.fieldType === 'checkbox' ? value.split(';') : [value]
        if (chosen.some((v) => !allowed.includes(v))) {
          errors.push(
            invalid(
              name,
              'INVALID_OPTION',
              `${value} was not one of the allowed options: [${allowed.join(', ')}]`,
            ),
          )
          continue
        }
      } else if (def.type === 'bool' && !['true', 'false'].includes(value.toLowerCase())) {
        errors.push(invalid(name, 'INVALID_BOOLEAN', `${value} was not a valid boolean.`))
        continue
      }
      values[name] = value
    }
    return { values, errors }
  }

  function invalidValues(errors: PropertyValidation[]): Reply {
    return validationError(`Property values were not valid: ${JSON.stringify(errors)}`)
  }

  function index(contact: StandInObject | null, id: string): void {
    const versions = searchIndex.get(id) ?? []
    versions.push({ at: clock() + searchLagMs, properties: contact ? { ...contact.properties } : null })
    searchIndex.set(id, versions.slice(-5))
  }

  /** What search sees of a contact now: the newest snapshot already indexed (none = not found). */
  function indexed(id: string): Record<string, string | null> | null {
    const now = clock()
    const versions = searchIndex.get(id) ?? []
    for (let i = versions.length - 1; i >= 0; i--) if (versions[i]!.at <= now) return versions[i]!.properties
    return null
  }

  /** HubSpot recalculates the searchable numbers whenever a number (or the contact's country) changes. */
  function recalculate(contact: StandInObject): void {
    const country = contactCountry(contact.properties, defaultCountry)
    for (const [from, to] of [
      ['phone', 'hs_searchable_calculated_phone_number'],
      ['mobilephone', 'hs_searchable_calculated_mobile_number'],
    ] as const) {
      const typed = contact.properties[from]
      contact.properties[to] = typed ? searchableDigits(typed, country) : null
    }
  }

  function applyContactValues(
    contact: StandInObject,
    values: Record<string, string>,
    now: string,
    by: ChangeBy,
  ): void {
    const before = { ...contact.properties }
    Object.assign(contact.properties, values)
    recalculate(contact)
    contact.properties.lastmodifieddate = now
    contact.updatedAt = now
    index(contact, contact.id)
    // Webhooks: one propertyChange per subscribed property whose value changed (an unchanged value
    // writes no property history, so HubSpot sends nothing).
    for (const [name, value] of Object.entries(values)) {
      if (!webhookProperties.has(name) || (before[name] ?? '') === value) continue
      outbox.push({
        occurredAt: clock(),
        subscriptionType: 'contact.propertyChange',
        objectId: Number(contact.id),
        propertyName: name,
        propertyValue: value,
        changeSource: by.changeSource ?? 'CRM_UI',
        ...(by.sourceId ? { sourceId: by.sourceId } : {}),
      })
    }
  }

  /** A write through the API with our token: HubSpot records the app as the source. */
  const API_WRITE: ChangeBy = { changeSource: 'INTEGRATION', sourceId: String(appId) }

  /** 423 when any record is still held by an earlier write; else hold them for `recordLockMs`. */
  function lock(ids: string[]): Reply | undefined {
    if (recordLockMs <= 0) return undefined
    const now = Date.now()
    const busy = ids.filter((id) => (lockedUntil.get(id) ?? 0) > now)
    if (busy.length > 0) return defaultFaultReply(423, { context: { ids: busy } })
    for (const id of ids) lockedUntil.set(id, now + recordLockMs)
    return undefined
  }

  function defaultFaultReply(status: number, extra: Json = {}): Reply {
    const body = defaultFaultBody(status, 'TEN_SECONDLY_ROLLING')
    return { status, body: isRecord(body) ? { ...body, ...extra } : body }
  }

  /** The next midnight in the portal's time zone: when HubSpot's daily limit resets. */
  function nextReset(): string {
    return DateTime.fromMillis(clock(), { zone: timeZone }).plus({ days: 1 }).startOf('day').toUTC().toISO()!
  }

  function findContact(id: string, idProperty?: string | null): StandInObject | undefined {
    if (!idProperty || idProperty === 'hs_object_id') return contacts.get(id)
    const wanted = id.toLowerCase()
    for (const contact of contacts.values()) {
      if ((contact.properties[idProperty] ?? '').toLowerCase() === wanted) return contact
    }
    return undefined
  }

  function notFoundContact(id: string): Reply {
    return errorReply(404, 'OBJECT_NOT_FOUND', 'Object not found.  objectId are usually numeric.', {
      context: { id: [id] },
    })
  }

  // --- routes ---------------------------------------------------------------------------------------------

  function batchUpdateContacts(body: unknown): Reply {
    if (!isRecord(body) || !Array.isArray(body.inputs)) {
      return validationError('Invalid input JSON on line 1: "inputs" is required')
    }
    const inputs = body.inputs
    if (inputs.length > MAX_BATCH_INPUTS) {
      return validationError(
        `The maximum number of inputs supported in a batch is ${MAX_BATCH_INPUTS}. Please reduce the number of items and try again`,
      )
    }
    const parsed: Array<{ id: string; idProperty?: string; properties: unknown }> = []
    for (const input of inputs) {
      if (!isRecord(input) || (typeof input.id !== 'string' && typeof input.id !== 'number')) {
        return validationError('Invalid input JSON on line 1: every input needs an "id"')
      }
      parsed.push({
        id: String(input.id),
        idProperty: typeof input.idProperty === 'string' ? input.idProperty : undefined,
        properties: input.properties,
      })
    }
    const seen = new Set<string>()
    const duplicates = new Set<string>()
    for (const { id } of parsed) (seen.has(id) ? duplicates : seen).add(id)
    if (duplicates.size > 0) {
      const ids = [...duplicates]
      return validationError(`Duplicate IDs found in batch input: [${ids.join(', ')}]. IDs must be unique`, {
        context: { ids },
      })
    }
    const checked = parsed.map((p) => ({ ...p, ...checkValues('contacts', p.properties) }))
    const errors = checked.flatMap((c) => c.errors)
    if (errors.length > 0) return invalidValues(errors)

    const locked = lock(checked.map((c) => findContact(c.id, c.idProperty)?.id ?? c.id))
    if (locked) return locked
    const startedAt = new Date().toISOString()
    const results: Json[] = []
    const missing: string[] = []
    for (const input of checked) {
      const contact = findContact(input.id, input.idProperty)
      if (!contact) {
        missing.push(input.id)
        continue
      }
      applyContactValues(contact, input.values, startedAt, API_WRITE)
      results.push(publicObject(contact, pickProperties(contact, Object.keys(input.values), ALWAYS_RETURNED)))
    }
    const completedAt = new Date().toISOString()
    if (missing.length === 0)
      return { status: 200, body: { status: 'COMPLETE', results, startedAt, completedAt } }
    return {
      status: 207,
      body: {
        status: 'COMPLETE',
        results,
        numErrors: 1,
        errors: [
          {
            status: 'error',
            category: 'OBJECT_NOT_FOUND',
            message:
              'Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.',
            context: { ids: missing },
          },
        ],
        startedAt,
        completedAt,
      },
    }
  }

  function matches(contact: Record<string, string | null>, filter: Json): boolean | string {
    const name = typeof filter.propertyName === 'string' ? filter.propertyName : ''
    const operator = typeof filter.operator === 'string' ? filter.operator : ''
    const actual = contact[name]
    const has = actual !== undefined && actual !== null && actual !== ''
    const norm = (v: unknown) => String(v).trim().toLowerCase()
    const values = Array.isArray(filter.values) ? filter.values.map(norm) : []
    switch (operator) {
      case 'EQ':
        return has && norm(actual) === norm(filter.value)
      case 'NEQ':
        return !has || norm(actual) !== norm(filter.value)
      case 'IN':
        return has && values.includes(norm(actual))
      case 'NOT_IN':
        return !has || !values.includes(norm(actual))
      case 'HAS_PROPERTY':
        return has
      case 'NOT_HAS_PROPERTY':
        return !has
      // Search guide: CONTAINS_TOKEN matches a whole word (token) of a text value.
      case 'CONTAINS_TOKEN':
        return (
          has &&
          String(actual)
            .toLowerCase()
            .split(/[^a-z0-9]+/)
            .includes(norm(filter.value))
        )
      default:
        return `The stand-in does not implement the ${operator || '(missing)'} operator`
    }
  }

  function searchContacts(body: unknown, type: ObjectType = 'contacts'): Reply {
    const request = isRecord(body) ? body : {}
    const filterGroups = Array.isArray(request.filterGroups) ? request.filterGroups.filter(isRecord) : []
    if (filterGroups.length > MAX_FILTER_GROUPS) {
      return validationError(
        `Too many filter groups: ${filterGroups.length}. The maximum is ${MAX_FILTER_GROUPS}.`,
      )
    }
    const groupsOfFilters = filterGroups.map((g) =>
      Array.isArray(g.filters) ? g.filters.filter(isRecord) : [],
    )
    const crowded = groupsOfFilters.find((g) => g.length > MAX_FILTERS_PER_GROUP)
    if (crowded) {
      return validationError(
        `Too many filters in a filter group: ${crowded.length}. The maximum is ${MAX_FILTERS_PER_GROUP}.`,
      )
    }
    const filterCount = groupsOfFilters.reduce((n, g) => n + g.length, 0)
    if (filterCount > MAX_FILTERS) {
      return validationError(`Too many filters: ${filterCount}. The maximum is ${MAX_FILTERS}.`)
    }
    const limit = request.limit === undefined ? 10 : Number(request.limit)
    if (!Number.isInteger(limit) || limit < 0 || limit > MAX_SEARCH_LIMIT) {
      return validationError(`limit must be between 0 and ${MAX_SEARCH_LIMIT}, got ${String(request.limit)}`)
    }
    const offset = request.after === undefined || request.after === '' ? 0 : Number(request.after)
    if (!Number.isInteger(offset) || offset < 0)
      return validationError(`Invalid after: ${String(request.after)}`)
    if (offset + limit > MAX_SEARCH_RESULTS) {
      return validationError(
        `Search results are limited to ${MAX_SEARCH_RESULTS} per query; after ${offset} with limit ${limit} pages beyond them.`,
      )
    }
    const requested = Array.isArray(request.properties) ? request.properties.map(String) : undefined

    const hits: StandInObject[] = []
    const objects: StandInObject[] = type === 'tasks' ? tasks : [...contacts.values()]
    const all = [...objects].sort((a, b) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id))
    for (const live of all) {
      // Search reads the index, which lags the record (search guide); tasks are searched live here.
      const seen = type === 'tasks' ? live.properties : indexed(live.id)
      if (!seen) continue
      const contact: StandInObject = { ...live, properties: seen }
      if (groupsOfFilters.length === 0) {
        hits.push(contact)
        continue
      }
      let any = false
      for (const filters of groupsOfFilters) {
        let every = true
        for (const filter of filters) {
          const result = matches(contact.properties, filter)
          if (typeof result === 'string') return validationError(result)
          if (!result) {
            every = false
            break
          }
        }
        if (every) {
          any = true
          break
        }
      }
      if (any) hits.push(contact)
    }
    const page = hits.slice(offset, offset + limit)
    const result: Json = {
      total: hits.length,
      results: page.map((c) => publicObject(c, pickProperties(c, requested, DEFAULT_CONTACT_PROPERTIES))),
    }
    if (offset + limit < hits.length) result.paging = { next: { after: String(offset + limit) } }
    return { status: 200, body: result }
  }

  function requestedProperties(query: URLSearchParams): string[] | undefined {
    const names = query
      .getAll('properties')
      .flatMap((p) => p.split(','))
      .map((p) => p.trim())
      .filter(Boolean)
    return names.length > 0 ? names : undefined
  }

  function getContact(id: string, query: URLSearchParams): Reply {
    const contact = findContact(id, query.get('idProperty'))
    if (!contact) return notFoundContact(id)
    return {
      status: 200,
      body: publicObject(
        contact,
        pickProperties(contact, requestedProperties(query), DEFAULT_CONTACT_PROPERTIES),
      ),
    }
  }

  function patchContact(id: string, query: URLSearchParams, body: unknown): Reply {
    const { values, errors } = checkValues('contacts', isRecord(body) ? body.properties : undefined)
    if (errors.length > 0) return invalidValues(errors)
    const contact = findContact(id, query.get('idProperty'))
    if (!contact) return notFoundContact(id)
    const locked = lock([contact.id])
    if (locked) return locked
    applyContactValues(contact, values, new Date().toISOString(), API_WRITE)
    return {
      status: 200,
      body: publicObject(contact, pickProperties(contact, Object.keys(values), ALWAYS_RETURNED)),
    }
  }

  /** `POST /crm/v3/objects/contacts` (basicApi.create): 201; search finds it after the lag. */
  function createContactByApi(body: unknown): Reply {
    const { values, errors } = checkValues('contacts', isRecord(body) ? body.properties : undefined)
    if (errors.length > 0) return invalidValues(errors)
    const created = standIn.addContact({ properties: values })
    const contact = contacts.get(created.id)!
    searchIndex.set(created.id, [])
    index(contact, created.id)
    outbox.push({
      occurredAt: clock(),
      subscriptionType: 'contact.creation',
      objectId: Number(created.id),
      changeFlag: 'CREATED',
      ...API_WRITE,
      changeSource: 'INTEGRATION',
    })
    return {
      status: 201,
      body: publicObject(contact, pickProperties(contact, undefined, DEFAULT_CONTACT_PROPERTIES)),
    }
  }

  function ownerPage(url: URL, base: string): Reply {
    const q = url.searchParams
    const limit = q.has('limit') ? Number(q.get('limit')) : 100
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      return validationError(`limit must be between 1 and 500, got ${q.get('limit')}`)
    }
    const offset = q.has('after') ? Number(q.get('after')) : 0
    if (!Number.isInteger(offset) || offset < 0) return validationError(`Invalid after: ${q.get('after')}`)
    const archived = q.get('archived') === 'true'
    const email = q.get('email')?.toLowerCase()
    const list = owners.filter((o) => o.archived === archived && (!email || o.email.toLowerCase() === email))
    const page = list.slice(offset, offset + limit)
    const body: Json = { results: page }
    if (offset + limit < list.length) {
      const after = String(offset + limit)
      body.paging = { next: { after, link: `${base}/crm/v3/owners/?after=${after}&limit=${limit}` } }
    }
    return { status: 200, body }
  }

  function getOwner(id: string, query: URLSearchParams): Reply {
    const byUserId = query.get('idProperty') === 'userId'
    const archived = query.get('archived') === 'true'
    const owner = owners.find(
      (o) => (byUserId ? String(o.userId) === id : o.id === id) && o.archived === archived,
    )
    if (!owner) return errorReply(404, 'OBJECT_NOT_FOUND', `Owner ${id} not found`)
    return { status: 200, body: owner }
  }

  function objectType(raw: string): ObjectType | Reply {
    const type = OBJECT_TYPES.find((t) => t === raw)
    return type ?? validationError(`Unable to infer object type from: ${raw}`)
  }

  function createProperty(type: ObjectType, body: unknown): Reply {
    if (!isRecord(body)) return validationError('Invalid input JSON on line 1')
    const missing = ['name', 'label', 'type', 'fieldType', 'groupName'].filter(
      (k) => typeof body[k] !== 'string' || body[k] === '',
    )
    if (missing.length > 0) return validationError(`Missing required fields: ${missing.join(', ')}`)
    const name = String(body.name)
    const kind = String(body.type)
    const fieldType = String(body.fieldType)
    const groupName = String(body.groupName)
    if (!/^[a-z][a-z0-9_]*$/.test(name)) {
      return validationError(
        `Property name ${name} is invalid: use lowercase letters, digits and underscores`,
      )
    }
    if (!PROPERTY_TYPES.has(kind)) return validationError(`Invalid property type: ${kind}`)
    if (!FIELD_TYPES.has(fieldType)) return validationError(`Invalid field type: ${fieldType}`)
    if (kind === 'enumeration' && !Array.isArray(body.options)) {
      return validationError(`Property ${name} of type enumeration needs options`)
    }
    if (propsOf(type).has(name)) {
      return errorReply(409, 'OBJECT_ALREADY_EXISTS', `Property named '${name}' already exists.`)
    }
    if (!groupsOf(type).has(groupName)) {
      return validationError(`Property group '${groupName}' does not exist.`)
    }
    const now = new Date().toISOString()
    const options: StandInOption[] = Array.isArray(body.options)
      ? body.options.filter(isRecord).map((o, i) => ({
          label: String(o.label ?? o.value),
          value: String(o.value),
          displayOrder: typeof o.displayOrder === 'number' ? o.displayOrder : i,
          hidden: o.hidden === true,
          ...(typeof o.description === 'string' ? { description: o.description } : {}),
        }))
      : []
    const property: StandInProperty = {
      name,
      label: String(body.label),
      type: kind,
      fieldType,
      groupName,
      description: typeof body.description === 'string' ? body.description : '',
      options,
      displayOrder: typeof body.displayOrder === 'number' ? body.displayOrder : -1,
      hidden: body.hidden === true,
      formField: body.formField === true,
      calculated: false,
      externalOptions: body.externalOptions === true,
      hasUniqueValue: body.hasUniqueValue === true,
      hubspotDefined: false,
      createdAt: now,
      updatedAt: now,
      archived: false,
      modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: false },
    }
    propsOf(type).set(name, property)
    return { status: 201, body: property }
  }

  function createGroup(type: ObjectType, body: unknown): Reply {
    if (!isRecord(body) || typeof body.name !== 'string' || typeof body.label !== 'string') {
      return validationError('Missing required fields: name, label')
    }
    if (!/^[a-z][a-z0-9_]*$/.test(body.name))
      return validationError(`Property group name ${body.name} is invalid`)
    if (groupsOf(type).has(body.name)) {
      return errorReply(409, 'OBJECT_ALREADY_EXISTS', `A property group named '${body.name}' already exists.`)
    }
    const group: StandInPropertyGroup = {
      name: body.name,
      label: body.label,
      displayOrder: typeof body.displayOrder === 'number' ? body.displayOrder : -1,
      archived: false,
    }
    groupsOf(type).set(group.name, group)
    return { status: 201, body: group }
  }

  function createTask(body: unknown): Reply {
    if (!isRecord(body)) return validationError('Invalid input JSON on line 1')
    const { values, errors } = checkValues('tasks', body.properties)
    if (errors.length > 0) return invalidValues(errors)
    if (strict && !values.hs_timestamp) {
      return validationError(
        `Property values were not valid: ${JSON.stringify([invalid('hs_timestamp', 'REQUIRED_PROPERTY', 'hs_timestamp is required')])}`,
      )
    }
    const associations: StandInAssociation[] = []
    for (const association of Array.isArray(body.associations) ? body.associations : []) {
      const to = isRecord(association) && isRecord(association.to) ? String(association.to.id ?? '') : ''
      const types = isRecord(association) && Array.isArray(association.types) ? association.types : []
      if (!to || types.length === 0) {
        return validationError('Invalid association: each needs "to.id" and at least one type')
      }
      for (const spec of types) {
        if (!isRecord(spec) || typeof spec.associationTypeId !== 'number') {
          return validationError('Invalid association type: associationTypeId must be a number')
        }
        const category = String(spec.associationCategory ?? '')
        if (!['HUBSPOT_DEFINED', 'USER_DEFINED', 'INTEGRATOR_DEFINED'].includes(category)) {
          return validationError(`Invalid associationCategory: ${category}`)
        }
        // 204 is HUBSPOT_DEFINED task -> contact: the contact must exist.
        if (spec.associationTypeId === 204 && category === 'HUBSPOT_DEFINED' && !contacts.has(to)) {
          return validationError(`One or more associations are invalid: contact ${to} does not exist`, {
            context: { ids: [to] },
          })
        }
        associations.push({
          toObjectId: to,
          associationCategory: category,
          associationTypeId: spec.associationTypeId,
        })
      }
    }
    const now = new Date().toISOString()
    const id = String(nextTaskId++)
    const task: StandInTask = {
      id,
      properties: { ...values, hs_object_id: id, hs_createdate: now, hs_lastmodifieddate: now },
      createdAt: now,
      updatedAt: now,
      archived: false,
      associations,
    }
    tasks.push(task)
    return { status: 201, body: publicObject(task, { ...task.properties }) }
  }

  function getTask(id: string): Reply {
    const task = tasks.find((t) => t.id === id)
    if (!task) return errorReply(404, 'OBJECT_NOT_FOUND', 'Object not found.  objectId are usually numeric.')
    const byType = new Map<string, Json[]>()
    for (const a of task.associations) {
      const key = a.associationTypeId === 204 ? 'contacts' : String(a.associationTypeId)
      byType.set(key, [...(byType.get(key) ?? []), { id: a.toObjectId, type: 'task_to_contact' }])
    }
    const associations = Object.fromEntries([...byType].map(([k, results]) => [k, { results }]))
    return { status: 200, body: { ...publicObject(task, { ...task.properties }), associations } }
  }

  /** The token of the request being routed (usage is per token). */
  let currentToken = ''

  function route(method: string, url: URL, body: unknown, base: string): Reply {
    const path = url.pathname
    const q = url.searchParams
    if (path === '/crm/v3/objects/contacts/batch/update') {
      return method === 'POST' ? batchUpdateContacts(body) : notAllowed(method, path)
    }
    if (path === '/crm/v3/objects/contacts/search') {
      return method === 'POST' ? searchContacts(body) : notAllowed(method, path)
    }
    if (path === '/crm/v3/objects/contacts') {
      return method === 'POST' ? createContactByApi(body) : notAllowed(method, path)
    }
    const contactPath = /^\/crm\/v3\/objects\/contacts\/([^/]+)$/.exec(path)
    if (contactPath) {
      const id = decodeURIComponent(contactPath[1]!)
      if (method === 'GET') return getContact(id, q)
      if (method === 'PATCH') return patchContact(id, q, body)
      return notAllowed(method, path)
    }
    if (path === '/crm/v3/objects/tasks/search') {
      return method === 'POST' ? searchContacts(body, 'tasks') : notAllowed(method, path)
    }
    if (path === '/crm/v3/objects/tasks') {
      return method === 'POST' ? createTask(body) : notAllowed(method, path)
    }
    const taskPath = /^\/crm\/v3\/objects\/tasks\/([^/]+)$/.exec(path)
    if (taskPath) {
      return method === 'GET' ? getTask(decodeURIComponent(taskPath[1]!)) : notAllowed(method, path)
    }
    if (path === '/crm/v3/owners' || path === '/crm/v3/owners/') {
      return method === 'GET' ? ownerPage(url, base) : notAllowed(method, path)
    }
    const ownerPath = /^\/crm\/v3\/owners\/([^/]+)$/.exec(path)
    if (ownerPath) {
      return method === 'GET' ? getOwner(decodeURIComponent(ownerPath[1]!), q) : notAllowed(method, path)
    }
    const groupPath = /^\/crm\/v3\/properties\/([^/]+)\/groups(?:\/([^/]+))?$/.exec(path)
    if (groupPath) {
      const type = objectType(groupPath[1]!)
      if (typeof type !== 'string') return type
      const name = groupPath[2] === undefined ? undefined : decodeURIComponent(groupPath[2])
      if (name === undefined && method === 'GET')
        return { status: 200, body: { results: [...groupsOf(type).values()] } }
      if (name === undefined && method === 'POST') return createGroup(type, body)
      if (name !== undefined && method === 'GET') {
        const group = groupsOf(type).get(name)
        return group
          ? { status: 200, body: group }
          : errorReply(404, 'OBJECT_NOT_FOUND', `Unable to find property group ${name}`)
      }
      // PATCH (groupsApi.update): label and displayOrder change; the name does not.
      if (name !== undefined && method === 'PATCH') {
        const group = groupsOf(type).get(name)
        if (!group) return errorReply(404, 'OBJECT_NOT_FOUND', `Unable to find property group ${name}`)
        if (isRecord(body) && typeof body.label === 'string') group.label = body.label
        if (isRecord(body) && typeof body.displayOrder === 'number') group.displayOrder = body.displayOrder
        return { status: 200, body: group }
      }
      return notAllowed(method, path)
    }
    const propertyPath = /^\/crm\/v3\/properties\/([^/]+)(?:\/([^/]+))?$/.exec(path)
    if (propertyPath) {
      const type = objectType(propertyPath[1]!)
      if (typeof type !== 'string') return type
      const name = propertyPath[2] === undefined ? undefined : decodeURIComponent(propertyPath[2])
      if (name === undefined && method === 'GET') {
        const archived = q.get('archived') === 'true'
        return {
          status: 200,
          body: { results: [...propsOf(type).values()].filter((p) => p.archived === archived) },
        }
      }
      if (name === undefined && method === 'POST') return createProperty(type, body)
      if (name !== undefined && method === 'GET') {
        const property = propsOf(type).get(name)
        return property
          ? { status: 200, body: property }
          : errorReply(404, 'OBJECT_NOT_FOUND', `Unable to find property ${name} for object type ${type}`)
      }
      // PATCH (coreApi.update): label, description, options of a property we created (HubSpot's own are
      // read-only definitions).
      if (name !== undefined && method === 'PATCH') {
        const property = propsOf(type).get(name)
        if (!property)
          return errorReply(
            404,
            'OBJECT_NOT_FOUND',
            `Unable to find property ${name} for object type ${type}`,
          )
        if (property.modificationMetadata.readOnlyDefinition)
          return validationError(`Property ${name} is a HubSpot-defined property and cannot be changed`)
        if (isRecord(body) && typeof body.label === 'string') property.label = body.label
        if (isRecord(body) && typeof body.description === 'string') property.description = body.description
        if (isRecord(body) && Array.isArray(body.options)) {
          property.options = body.options.filter(isRecord).map((o, i) => ({
            label: String(o.label ?? o.value),
            value: String(o.value),
            displayOrder: typeof o.displayOrder === 'number' ? o.displayOrder : i,
            hidden: o.hidden === true,
            ...(typeof o.description === 'string' ? { description: o.description } : {}),
          }))
        }
        property.updatedAt = new Date().toISOString()
        return { status: 200, body: property }
      }
      return notAllowed(method, path)
    }
    // Account information API (https://developers.hubspot.com/docs/api-reference/legacy/account/account-information/get-usage-details):
    // the private app's daily usage, reset at midnight in the portal's time zone.
    if (path === '/account-info/v3/api-usage/daily/private-apps' && method === 'GET') {
      const today = daily.get(currentToken) ?? 0
      return {
        status: 200,
        body: {
          results: [
            {
              name: 'private-apps-api-calls-daily',
              usageLimit: limits.daily,
              currentUsage: today,
              collectedAt: new Date(clock()).toISOString(),
              fetchStatus: 'SUCCESS',
              resetsAt: nextReset(),
            },
          ],
        },
      }
    }
    if (path === '/account-info/v3/details' && method === 'GET') {
      return {
        status: 200,
        body: {
          portalId,
          accountType: 'STANDARD',
          timeZone,
          companyCurrency: 'USD',
          additionalCurrencies: [],
          utcOffset: DateTime.fromMillis(clock(), { zone: timeZone }).toFormat('ZZ'),
          utcOffsetMilliseconds: DateTime.fromMillis(clock(), { zone: timeZone }).offset * 60_000,
          uiDomain: 'app.hubspot.com',
          dataHostingLocation: 'na1',
        },
      }
    }
    return errorReply(404, 'OBJECT_NOT_FOUND', `The stand-in has no route for ${method} ${path}`)
  }

  function notAllowed(method: string, path: string): Reply {
    return errorReply(405, 'VALIDATION_ERROR', `${method} is not supported on ${path} by the stand-in`)
  }

  // --- HTTP -----------------------------------------------------------------------------------------------

  function write(res: ServerResponse, reply: Reply): void {
    if (res.destroyed || res.writableEnded) return
    const text =
      reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body)
    const contentType =
      typeof reply.body === 'string' ? 'text/html;charset=utf-8' : 'application/json;charset=utf-8'
    const correlation =
      isRecord(reply.body) && typeof reply.body.correlationId === 'string'
        ? reply.body.correlationId
        : randomUUID()
    res.writeHead(reply.status, {
      'content-type': contentType,
      'content-length': String(Buffer.byteLength(text)),
      'x-hubspot-correlation-id': correlation,
      ...reply.headers,
    })
    res.end(text)
  }

  async function handle(req: IncomingMessage, res: ServerResponse, base: string): Promise<void> {
    const at = Date.now()
    const method = (req.method ?? 'GET').toUpperCase()
    const url = new URL(req.url ?? '/', base)
    const raw = await readBody(req)
    let body: unknown
    let badJson = false
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw)
      } catch {
        body = raw
        badJson = true
      }
    }
    const record: RequestRecord = { at, method, path: url.pathname, query: url.search, status: 0, body }
    requests.push(record)

    const answer = async (reply: Reply, delayMs = 0): Promise<void> => {
      record.status = reply.status
      if (reply.policyName) record.policyName = reply.policyName
      await sleep(delayMs + latencyMs)
      write(res, reply)
    }

    const token = bearer(req.headers.authorization)
    if (token) record.token = token
    if (!token || !tokens.has(token)) {
      return answer(errorReply(401, 'INVALID_AUTHENTICATION', UNAUTHORIZED_MESSAGE))
    }

    currentToken = token
    const fault = takeFault(method, url.pathname)
    if (fault && fault.status === 'hang') {
      // No answer, no reset: the request stays open until the client gives up or the stand-in closes.
      record.injected = true
      hung.add(req)
      req.socket.once('close', () => hung.delete(req))
      return
    }
    if (fault && fault.status === 'timeout') {
      record.injected = true
      if (fault.applied && !badJson) route(method, url, body, base)
      await sleep(fault.delayMs ?? TIMEOUT_HOLD_MS)
      req.socket.destroy()
      return
    }
    if (fault && typeof fault.status === 'number') {
      record.injected = true
      const policy = fault.status === 429 ? (fault.policy ?? 'TEN_SECONDLY_ROLLING') : undefined
      const reply: Reply = {
        status: fault.status,
        body: fault.body ?? defaultFaultBody(fault.status, policy ?? 'TEN_SECONDLY_ROLLING'),
        headers: { ...rateHeaders(token), ...fault.headers },
        ...(policy ? { policyName: policy } : {}),
      }
      return answer(reply, fault.delayMs ?? 0)
    }
    const holdMs = fault?.status === 'slow' ? (fault.delayMs ?? 0) : 0

    const scope = requiredScope(method, url.pathname)
    if (scope && revoked.has(scope)) return answer({ status: 403, body: missingScopesBody([scope]) }, 0)
    const isSearch = method === 'POST' && /^\/crm\/v3\/objects\/[^/]+\/search$/.test(url.pathname)
    const refused = admit(token, isSearch, at)
    if (refused) {
      return answer(
        { status: 429, body: rateLimitBody(refused), headers: rateHeaders(token), policyName: refused },
        holdMs,
      )
    }
    if (badJson) {
      return answer(validationError('Invalid input JSON on line 1: the body is not JSON'), holdMs)
    }
    if (isSearch && raw.length > MAX_SEARCH_BODY_CHARS) {
      return answer(
        validationError(
          `The request body is ${raw.length} characters; search requests are limited to ${MAX_SEARCH_BODY_CHARS}.`,
        ),
        holdMs,
      )
    }
    const reply = route(method, url, body, base)
    return answer({ ...reply, headers: { ...rateHeaders(token), ...reply.headers } }, holdMs)
  }

  let base = ''
  const server = createServer((req, res) => {
    handle(req, res, base).catch((error: unknown) => {
      write(res, errorReply(500, 'INTERNAL_ERROR', `stand-in failure: ${String(error)}`))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  base = `http://127.0.0.1:${port}`

  const standIn: HubSpotStandIn = {
    url: base,
    port,
    token: [...tokens][0] ?? STANDIN_TOKEN,
    requests,
    tasks,
    get properties() {
      return [...propsOf('contacts').values()]
    },
    get propertyGroups() {
      return [...groupsOf('contacts').values()]
    },
    limits,

    addContact(input) {
      const id = input.id ?? String(nextContactId++)
      if (contacts.has(id)) throw new Error(`contact ${id} exists already`)
      const now = new Date().toISOString()
      const given: Record<string, string | null> = {}
      for (const [k, v] of Object.entries(input.properties ?? {})) given[k] = v === null ? null : String(v)
      const contact: StandInObject = {
        id,
        properties: { ...given, hs_object_id: id, createdate: now, lastmodifieddate: now },
        createdAt: now,
        updatedAt: now,
        archived: false,
      }
      recalculate(contact)
      contacts.set(id, contact)
      // Seeded contacts are already indexed (they existed before the test), unless `searchLagMs` says
      // otherwise for one created "now" (`createContact`).
      searchIndex.set(id, [{ at: Number.NEGATIVE_INFINITY, properties: { ...contact.properties } }])
      return copyObject(contact)
    },
    createContact(properties, by = {}) {
      const created = standIn.addContact({ properties })
      searchIndex.set(created.id, [])
      index(contacts.get(created.id)!, created.id)
      outbox.push({
        occurredAt: clock(),
        subscriptionType: 'contact.creation',
        objectId: Number(created.id),
        changeFlag: 'CREATED',
        changeSource: by.changeSource ?? 'CRM_UI',
        ...(by.sourceId ? { sourceId: by.sourceId } : {}),
      })
      return created
    },
    editContact(id, properties, by = {}) {
      const contact = contacts.get(id)
      if (!contact) throw new Error(`no contact ${id}`)
      const values = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, v ?? '']))
      applyContactValues(contact, values, new Date(clock()).toISOString(), {
        changeSource: by.changeSource ?? 'CRM_UI',
        sourceId: by.sourceId ?? 'userId:1234567',
      })
      return copyObject(contact)
    },
    mergeContacts(primaryId, mergedId) {
      const primary = contacts.get(primaryId)
      const merged = contacts.get(mergedId)
      if (!primary || !merged) throw new Error(`cannot merge ${primaryId} and ${mergedId}: unknown id`)
      const properties: Record<string, string | null> = {}
      let moved = 0
      for (const [k, v] of Object.entries(primary.properties)) if (v) properties[k] = v
      for (const [k, v] of Object.entries(merged.properties)) {
        if (!v || properties[k]) continue
        properties[k] = v
        moved++
      }
      for (const k of ['hs_object_id', 'createdate', 'lastmodifieddate']) delete properties[k]
      contacts.delete(primaryId)
      contacts.delete(mergedId)
      index(null, primaryId)
      index(null, mergedId)
      const id = String(nextContactId++)
      const now = new Date(clock()).toISOString()
      const contact: StandInObject = {
        id,
        properties: { ...properties, hs_object_id: id, createdate: now, lastmodifieddate: now },
        createdAt: now,
        updatedAt: now,
        archived: false,
      }
      recalculate(contact)
      contacts.set(id, contact)
      index(contact, id)
      outbox.push({
        occurredAt: clock(),
        subscriptionType: 'contact.merge',
        objectId: Number(id),
        primaryObjectId: Number(primaryId),
        mergedObjectIds: [Number(mergedId)],
        newObjectId: Number(id),
        numberOfPropertiesMoved: moved,
        changeSource: 'CRM_UI',
        sourceId: 'userId:1234567',
      })
      return copyObject(contact)
    },
    setWebhookTarget(target) {
      outbox.target = target
    },
    pendingWebhooks() {
      return outbox.pending()
    },
    clearWebhooks() {
      outbox.clear()
    },
    deliverWebhooks(o) {
      return outbox.deliver(o)
    },
    webhookDeliveries: outbox.sent,
    contact(id) {
      const contact = contacts.get(id)
      return contact ? copyObject(contact) : undefined
    },
    contacts() {
      return [...contacts.values()].map(copyObject)
    },
    gdprDeleteContact(id) {
      const existed = contacts.delete(id)
      recycled.delete(id)
      if (existed) {
        index(null, id)
        outbox.push({
          occurredAt: clock(),
          subscriptionType: 'contact.privacyDeletion',
          objectId: Number(id),
          changeFlag: 'GDPR_DELETED',
          changeSource: 'CRM_UI',
          sourceId: 'userId:1234567',
        })
      }
      return existed
    },
    restoreContact(id) {
      const contact = recycled.get(id)
      if (!contact) throw new Error(`contact ${id} is not in the recycling bin`)
      recycled.delete(id)
      contacts.set(id, contact)
      index(contact, id)
      outbox.push({
        occurredAt: clock(),
        subscriptionType: 'contact.restore',
        objectId: Number(id),
        changeFlag: 'RESTORED',
        changeSource: 'CRM_UI',
        sourceId: 'userId:1234567',
      })
      return copyObject(contact)
    },
    deleteContact(id) {
      const gone = contacts.get(id)
      const existed = contacts.delete(id)
      if (gone) recycled.set(id, gone)
      if (existed) {
        index(null, id)
        outbox.push({
          occurredAt: clock(),
          subscriptionType: 'contact.deletion',
          objectId: Number(id),
          changeFlag: 'DELETED',
          changeSource: 'CRM_UI',
          sourceId: 'userId:1234567',
        })
      }
      return existed
    },
    addOwner(input) {
      const now = new Date().toISOString()
      const userId = input.userId ?? nextUserId++
      const owner: StandInOwner = {
        id: input.id ?? String(nextOwnerId++),
        email: input.email,
        firstName: input.firstName ?? '',
        lastName: input.lastName ?? '',
        userId,
        userIdIncludingInactive: userId,
        type: 'PERSON',
        createdAt: now,
        updatedAt: now,
        archived: input.archived ?? false,
        teams: input.teams ?? [],
      }
      owners.push(owner)
      return structuredClone(owner)
    },
    owners() {
      return structuredClone(owners)
    },
    propertiesOf(type) {
      const known = OBJECT_TYPES.find((t) => t === type)
      return known ? [...propsOf(known).values()] : []
    },

    addProperty(input, type = 'contacts') {
      const now = new Date().toISOString()
      const groupName = input.groupName ?? 'tickbridge'
      if (!groupsOf(type).has(groupName)) {
        groupsOf(type).set(groupName, {
          name: groupName,
          label: groupName,
          displayOrder: -1,
          archived: false,
        })
      }
      const property: StandInProperty = {
        label: input.name,
        type: 'string',
        fieldType: 'text',
        description: '',
        options: [],
        displayOrder: -1,
        hidden: false,
        formField: false,
        calculated: false,
        externalOptions: false,
        hasUniqueValue: false,
        hubspotDefined: false,
        createdAt: now,
        updatedAt: now,
        archived: false,
        modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: false },
        ...input,
        groupName,
      }
      propsOf(type).set(property.name, property)
      return structuredClone(property)
    },

    revokeScopes(scopes) {
      for (const s of scopes) revoked.add(s)
    },
    grantAllScopes() {
      revoked = new Set()
    },
    failNext(fault) {
      faults.push({ ...fault, remaining: fault.times ?? 1 })
    },
    clearFaults() {
      faults = []
    },
    setLatency(ms) {
      latencyMs = Math.max(0, ms)
    },
    setLimits(next) {
      Object.assign(limits, next)
    },
    resetDaily() {
      daily = new Map()
    },
    usage(token = standIn.token) {
      const now = Date.now()
      return {
        inWindow: recent(windows, token, now, limits.windowMs).length,
        searchInWindow: recent(searchWindows, ACCOUNT, now, limits.searchWindowMs).length,
        today: daily.get(token) ?? 0,
      }
    },

    callsTo(pathPrefix, method) {
      return requests.filter(
        (r) => r.path.startsWith(pathPrefix) && (!method || r.method === method.toUpperCase()),
      )
    },
    maxRequestsInAnyWindow(windowMs = 10_000, filter) {
      const times = requests
        .filter((r) => (filter ? filter(r) : true))
        .map((r) => r.at)
        .sort((a, b) => a - b)
      let best = 0
      let lo = 0
      for (let hi = 0; hi < times.length; hi++) {
        while (times[hi]! - times[lo]! >= windowMs) lo++
        best = Math.max(best, hi - lo + 1)
      }
      return best
    },
    stats() {
      const byStatus: Record<string, number> = {}
      const rateLimited: Record<RateLimitPolicy, number> = { TEN_SECONDLY_ROLLING: 0, DAILY: 0, SECONDLY: 0 }
      for (const r of requests) {
        byStatus[r.status] = (byStatus[r.status] ?? 0) + 1
        if (r.policyName) rateLimited[r.policyName] += 1
      }
      return { total: requests.length, byStatus, tooManyRequests: byStatus[429] ?? 0, rateLimited }
    },
    clearRequests() {
      requests.length = 0
    },
    reset() {
      requests.length = 0
      contacts.clear()
      recycled.clear()
      tasks.length = 0
      owners.length = 0
      seedSchema()
      faults = []
      latencyMs = 0
      windows = new Map()
      searchWindows = new Map()
      daily = new Map()
      searchIndex = new Map()
      lockedUntil = new Map()
      revoked = new Set()
      outbox.reset()
      nextContactId = 1001
      nextTaskId = 70001
      nextOwnerId = 5001
      nextUserId = 9001
    },
    async close() {
      for (const req of hung) req.socket.destroy()
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return standIn
}

// `tsx test/hubspot-standin/server.ts`: run it on its own, e.g. for a demo.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const standIn = await startHubSpotStandIn({ port: Number(process.env.HUBSPOT_STANDIN_PORT ?? 0) })
  process.stdout.write(`HubSpot stand-in on ${standIn.url} (token ${standIn.token})\n`)
  const stop = () => void standIn.close().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
