/**
 * The demo's live timeline: one line per event, in aligned columns, with the time since the demo started.
 * Sources report events with their own timestamps, some a few hundred ms late (they are polled), so lines
 * are held back briefly and printed in time order.
 */
export const KINDS = [
  'setup',
  'msg',
  'seen',
  'wa',
  'api',
  'reminder',
  'sla',
  'counters',
  'crm',
  'webhook',
] as const
export type Kind = (typeof KINDS)[number]

export interface Entry {
  /** Epoch ms when it happened. */
  at: number
  kind: Kind
  /** Session id (the WhatsApp number), if any. */
  session?: string
  /** The chat or person concerned, if any. */
  who?: string
  text: string
}

const COLORS: Record<Kind, string> = {
  setup: '2',
  msg: '36',
  seen: '34',
  wa: '34',
  api: '37;1',
  reminder: '33',
  sla: '31',
  counters: '32',
  crm: '35',
  webhook: '35',
}

export interface TimelineOptions {
  t0: number
  write: (text: string) => void
  color: boolean
  /** How long a line is held back so that later-reported earlier events still print in order. */
  holdMs?: number
}

export class Timeline {
  private readonly pending: Array<Entry & { seq: number }> = []
  private seq = 0
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly opts: TimelineOptions) {}

  get t0(): number {
    return this.opts.t0
  }

  add(entry: Entry): void {
    this.pending.push({ ...entry, seq: this.seq++ })
  }

  /** Prints held lines once they are old enough, every 100 ms, until stop(). */
  start(): void {
    this.timer ??= setInterval(() => this.flush(), 100)
  }

  /** Prints everything held (or only what is old enough), in time order. */
  flush(all = false): void {
    const cutoff = all ? Number.POSITIVE_INFINITY : Date.now() - (this.opts.holdMs ?? 900)
    const ready = this.pending.filter((e) => e.at <= cutoff).sort((a, b) => a.at - b.at || a.seq - b.seq)
    if (ready.length === 0) return
    for (const e of ready) this.pending.splice(this.pending.indexOf(e), 1)
    for (const e of ready) this.opts.write(`${this.format(e)}\n`)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.flush(true)
  }

  /** Plain text, printed at once (headers, the summary). */
  say(text = ''): void {
    this.opts.write(`${text}\n`)
  }

  paint(code: string, text: string): string {
    return this.opts.color ? `\x1b[${code}m${text}\x1b[0m` : text
  }

  format(e: Entry): string {
    const time = `+${((e.at - this.opts.t0) / 1000).toFixed(1)}s`.padStart(7)
    const kind = e.kind.padEnd(8)
    const session = (e.session ?? '').padEnd(10)
    const who = clip(e.who ?? '', 14).padEnd(14)
    return `${this.paint('2', time)}  ${this.paint(COLORS[e.kind], kind)} ${session} ${who} ${e.text}`.trimEnd()
  }
}

/** Cuts a string to `max` characters with an ellipsis. */
export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

/** `1.2s`-style seconds. */
export function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`
}

/** Left-aligned label, right-aligned figure, free-form detail: one summary row. */
export function row(label: string, figure: string | number, detail = ''): string {
  return `  ${label.padEnd(24)}${String(figure).padStart(6)}   ${detail}`.trimEnd()
}
