import { type Spawned, spawnTs } from '../helpers/process.js'

/**
 * The soak's worker processes: real `src/main.ts worker` processes, restarted at once when the soak
 * kills one (as a process supervisor would).
 */
export class WorkerPool {
  private readonly procs: Spawned[] = []
  /** Output of every process that ever ran, for the report when something fails. */
  readonly exited: Array<{ pid: number; code: number | null; tail: string[] }> = []

  constructor(
    private readonly size: number,
    private readonly env: Record<string, string>,
    /** Whether the process with this pid has joined (its heartbeat is in Redis). */
    private readonly joined: (pid: number) => Promise<boolean>,
    /** The checkout whose `src/main.ts` runs (this one unless the e2e benchmark compares revisions). */
    private readonly root?: string,
  ) {}

  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, () => this.spawnOne()))
  }

  private async spawnOne(): Promise<Spawned> {
    const p = spawnTs('src/main.ts', ['worker'], this.env, this.root)
    this.procs.push(p)
    void p.exited.then((code) => {
      this.exited.push({ pid: p.child.pid ?? 0, code, tail: [...p.stdout, ...p.stderr].slice(-20) })
    })
    const deadline = Date.now() + 60_000
    while (!(await this.joined(p.child.pid!).catch(() => false))) {
      if (p.child.exitCode !== null) throw new Error(`worker exited at start:\n${p.stderr.join('\n')}`)
      if (Date.now() > deadline) throw new Error('worker did not join within 60 s')
      await new Promise((r) => setTimeout(r, 100))
    }
    return p
  }

  pids(): number[] {
    return this.procs.filter((p) => p.child.exitCode === null).map((p) => p.child.pid!)
  }

  /** SIGKILLs a random live worker and starts a replacement; returns the killed pid. */
  async killOne(rand: () => number): Promise<number> {
    const live = this.procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null)
    const victim = live[Math.floor(rand() * live.length)]!
    const pid = victim.child.pid!
    victim.child.kill('SIGKILL')
    await victim.exited
    this.procs.splice(this.procs.indexOf(victim), 1)
    void this.spawnOne().catch(() => {})
    return pid
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map(async (p) => {
        if (p.child.exitCode !== null) return
        p.child.kill('SIGTERM')
        const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000)
        await p.exited
        clearTimeout(timer)
      }),
    )
  }
}
