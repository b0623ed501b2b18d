import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT, type Spawned, spawnCommand } from '../helpers/process.js'
import { deleteByPrefix, REDIS_URL } from '../helpers/redis.js'

/**
 * `npm start` as an operator runs it, as a real process tree: npm -> sh -> node. A wrapper that does not
 * pass SIGTERM on leaves the service orphaned; the tsx CLI wrapper re-sends the signal, which the service
 * took as "exit now" and skipped its graceful shutdown.
 */

const prefixes: string[] = []
const servicePids: number[] = []
afterAll(async () => {
  // A failing run may leave an orphan behind (that is what the first test catches): end it here.
  for (const pid of servicePids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  const r = new Redis(REDIS_URL)
  for (const prefix of prefixes) await deleteByPrefix(r, prefix)
  r.disconnect()
})

function startService(command: string, args: string[]): Spawned {
  const prefix = `tbt-prodstart-${randomBytes(4).toString('hex')}`
  prefixes.push(prefix)
  return spawnCommand(command, args, {
    REDIS_URL,
    TICKBRIDGE_PREFIX: prefix,
    TICKBRIDGE_RULES: 'config/rules.example.yaml',
    HOST: '127.0.0.1',
    PORT: '0',
    WA_TRANSPORT: 'sim',
    LOG_LEVEL: 'info',
  })
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const messages = (p: Spawned) =>
  p.stdout.flatMap((line) => {
    try {
      return [JSON.parse(line) as { msg: string; pid: number }]
    } catch {
      return []
    }
  })

describe('production start', () => {
  it('SIGTERM to `npm start` reaches the service: it shuts down gracefully, releases its sessions and leaves no orphan', async () => {
    const p = startService('npm', ['start', '--silent'])
    const listening = JSON.parse(await p.waitFor(/HTTP API listening/, 20_000)) as { pid: number }
    await p.waitFor(/worker started/)
    servicePids.push(listening.pid)
    expect(listening.pid).not.toBe(p.child.pid) // the service is npm's child, not npm itself

    p.child.kill('SIGTERM')
    const code = await p.exited
    await waitUntil(() => !isAlive(listening.pid), 5_000)

    expect(isAlive(listening.pid)).toBe(false)
    expect(code).toBe(0)
    const own = messages(p).filter((m) => m.pid === listening.pid)
    expect(own.map((m) => m.msg)).toContain('shutdown complete')
    expect(own.filter((m) => m.msg === 'session released').length).toBeGreaterThan(0)
    expect(own.map((m) => m.msg)).not.toContain('second signal: exiting now without finishing the shutdown')
  }, 40_000)

  it('a signal delivered twice at once (Ctrl-C on a terminal reaches the process group, npm forwards it again) still shuts down gracefully', async () => {
    const p = startService('npm', ['start', '--silent'])
    const listening = JSON.parse(await p.waitFor(/HTTP API listening/, 20_000)) as { pid: number }
    servicePids.push(listening.pid)
    await p.waitFor(/worker started/)
    process.kill(listening.pid, 'SIGINT')
    process.kill(listening.pid, 'SIGINT')
    expect(await p.exited).toBe(0)
    const msgs = messages(p).map((m) => m.msg)
    expect(msgs).toContain('shutdown complete')
    expect(msgs).not.toContain('second signal: exiting now without finishing the shutdown')
  }, 40_000)

  it('the Procfile and `npm run start:prod` run the compiled service with plain node', async () => {
    const procfile = await readFile(join(ROOT, 'Procfile'), 'utf8')
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
    expect(procfile).toMatch(/^web: node dist\/src\/main\.js web$/m)
    expect(procfile).toMatch(/^worker: node dist\/src\/main\.js worker$/m)
    expect(pkg.scripts['start:prod']).toBe('exec node dist/src/main.js all')
    // Every start script runs node itself (exec: the shell npm uses hands its pid to node, so npm's
    // signal goes straight to the service), never the tsx CLI wrapper.
    for (const name of ['start', 'start:web', 'start:worker', 'start:prod', 'demo', 'tickbridge'])
      expect(pkg.scripts[name]).toMatch(/^exec node /)
  })
})

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
}
