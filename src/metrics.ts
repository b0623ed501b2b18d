import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/** Every metric Tickbridge exposes, registered on one registry that is passed around (no globals). */
export function createMetrics(registry: Registry = new Registry(), opts: { processMetrics?: boolean } = {}) {
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'tickbridge_' })
  return {
    registry,
    ingestEvents: new Counter({
      name: 'tickbridge_ingest_events_total',
      help: 'WhatsApp domain events by type and outcome (applied, duplicate, invalid, unknown_session)',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
    ingestSeconds: new Histogram({
      name: 'tickbridge_ingest_seconds',
      help: 'Time to validate and apply one event to the inbox state',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
    receiptsSent: new Counter({
      name: 'tickbridge_receipts_sent_total',
      help: 'Read receipts sent to WhatsApp (one per batch)',
      labelNames: ['session'] as const,
      registers: [registry],
    }),
    receiptBatchSize: new Histogram({
      name: 'tickbridge_receipt_batch_size',
      help: 'Messages covered by one read receipt',
      buckets: [1, 2, 3, 5, 8, 13, 21, 50],
      registers: [registry],
    }),
    receiptLateness: new Histogram({
      name: 'tickbridge_receipt_lateness_seconds',
      help: 'How long after its planned time a receipt went out (timer lateness plus queueing)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    timeToView: new Histogram({
      name: 'tickbridge_time_to_view_seconds',
      help: 'From a customer message reaching us to its read receipt, per session (a support KPI)',
      labelNames: ['session'] as const,
      buckets: [0.5, 1, 2, 3, 5, 10, 20, 30, 60, 300, 1800, 3600],
      registers: [registry],
    }),
    reminders: new Counter({
      name: 'tickbridge_reminders_total',
      help: 'Unread reminders by outcome: done, failed, cancelled, replaced',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    reminderAppStateWaits: new Counter({
      name: 'tickbridge_reminder_app_state_waits_total',
      help: 'Times a reminder was refused for want of the app-state key and will retry',
      registers: [registry],
    }),
    slaBreaches: new Counter({
      name: 'tickbridge_sla_breaches_total',
      help: 'SLA levels fired, by policy and level',
      labelNames: ['policy', 'level'] as const,
      registers: [registry],
    }),
    slaLateness: new Histogram({
      name: 'tickbridge_sla_firing_lateness_seconds',
      help: 'How long after its due instant an SLA level fired',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    counterResets: new Counter({
      name: 'tickbridge_counter_resets_total',
      help: 'Unanswered-counter resets carried out, by trigger: api (DELETE /v1/chats/unanswered) or schedule',
      labelNames: ['trigger'] as const,
      registers: [registry],
    }),
    crmCalls: new Counter({
      name: 'tickbridge_crm_calls_total',
      help: 'HubSpot calls by call and outcome (ok, rate_limited, daily_limit, retryable, fatal)',
      labelNames: ['call', 'outcome'] as const,
      registers: [registry],
    }),
    crmBatchSize: new Histogram({
      name: 'tickbridge_crm_batch_size',
      help: 'Contacts per HubSpot batch/update call',
      buckets: [1, 5, 10, 25, 50, 75, 100],
      registers: [registry],
    }),
    crmContactsWritten: new Counter({
      name: 'tickbridge_crm_contacts_written_total',
      help: 'Contact property updates HubSpot accepted',
      registers: [registry],
    }),
    crmSkipped: new Counter({
      name: 'tickbridge_crm_skipped_total',
      help: 'Chats not written to HubSpot, by reason (no_phone, no_contact, no_chat, rejected)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    crmUnmatched: new Gauge({
      name: 'tickbridge_crm_unmatched_chats',
      help: 'Chats whose number matches no HubSpot contact yet (listed at GET /v1/crm/unmatched)',
      registers: [registry],
    }),
    crmWebhookEvents: new Counter({
      name: 'tickbridge_crm_webhook_events_total',
      help: 'HubSpot webhook events by type and outcome (applied, echo, duplicate, stale, ignored)',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
    hubspotRateLimit: new Gauge({
      name: 'tickbridge_hubspot_ratelimit',
      help: 'HubSpot X-HubSpot-RateLimit-* headers of the last answer: limit and remaining, per window (10s, daily)',
      labelNames: ['window', 'value'] as const,
      registers: [registry],
    }),
    whatsappLogins: new Counter({
      name: 'tickbridge_whatsapp_logins_total',
      help: 'WhatsApp logins (a socket reaching open) per session; logins per hour = increase over 1h',
      labelNames: ['session'] as const,
      registers: [registry],
    }),
    whatsappReadReceiptsHidden: new Gauge({
      name: 'tickbridge_whatsapp_read_receipts_hidden',
      help: '1 when the session’s WhatsApp account hides read receipts (receipts go out as read-self: no blue ticks)',
      labelNames: ['session'] as const,
      registers: [registry],
    }),
    httpSeconds: new Histogram({
      name: 'tickbridge_http_request_seconds',
      help: 'HTTP API latency by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
