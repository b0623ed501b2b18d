/**
 * What the SLA ladder and the counters need from the CRM. The HubSpot adapter implements it; without
 * HUBSPOT_ACCESS_TOKEN the `NoCrm` stand-in answers every call with a clear "skipped" outcome.
 */
export interface CrmTaskInput {
  sessionId: string
  chatJid: string
  /** E.164 digits of the customer, when known (LID-only chats have none yet). */
  phone: string | null
  /** The Tickbridge user the task is for. */
  assigneeUserId: string | null
  subject: string
  priority: 'LOW' | 'MEDIUM' | 'HIGH'
  dueAt: number
  /** A stable reference of this task (the job's id): a retry finds the task an earlier try created. */
  ref?: string
  /** How many earlier tries may have created it already (their answer lost). */
  earlierTries?: number
}

/** `retry`: not possible yet (no contact has the number yet): the task job tries again later, bounded. */
export type CrmOutcome = { ok: true; detail: string } | { ok: false; skipped: string; retry?: true }

export interface CrmPort {
  readonly enabled: boolean
  createTask(input: CrmTaskInput): Promise<CrmOutcome>
}

export class NoCrm implements CrmPort {
  readonly enabled = false
  async createTask(): Promise<CrmOutcome> {
    return { ok: false, skipped: 'CRM sync is off (no HUBSPOT_ACCESS_TOKEN)' }
  }
}
