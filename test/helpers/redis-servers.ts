import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'

/**
 * Private redis-server processes for tests and the soak: one with AOF (so it can be killed and restarted
 * without losing acknowledged writes) or a 3-master Redis Cluster on loopback ports. Nothing here touches
 * the shared Redis at 6379.
 */

const run = promisify(execFile)

/**
 * A port that is free now, and (for cluster nodes) whose bus port (+10000) is free too, both BELOW the
 * kernel's ephemeral range. A server that is killed and restarted must not sit in that range: while it
 * is down, a client reconnecting to it can be given that very port as its own source port and connect
 * to itself (TCP simultaneous open), and the restarted server then cannot bind. Seen in a CI soak.
 */
export async function freePort(withBus = false): Promise<number> {
  const low = await ephemeralLow()
  const from = 10_000
  const to = low - (withBus ? 10_000 : 0)
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from))
    if ((await isFree(port)) && (!withBus || (await isFree(port + 10_000)))) return port
  }
  throw new Error('no free port found for a test redis-server')
}

async function ephemeralLow(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768')
  const low = Number(range.trim().split(/\s+/)[0])
  return Number.isInteger(low) && low > 25_000 ? low : 32_768
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

async function waitForPing(port: number, timeoutMs = 15_000, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child && child.exitCode !== null)
      throw new Error(`redis-server on port ${port} exited (code ${child.exitCode}) before answering`)
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      await probe.connect()
      // A restarted server answers LOADING while it replays its AOF.
      if ((await probe.ping()) === 'PONG') return
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not come up`)
      await new Promise((r) => setTimeout(r, 50))
    } finally {
      probe.disconnect()
    }
  }
}

export interface PrivateRedis {
  url: string
  port: number
  /** SIGKILL: no shutdown save; only what the AOF (appendfsync always) holds survives. */
  kill(): Promise<void>
  /** Starts the server again on the same port and directory; resolves once it answers PING. */
  start(): Promise<void>
  stop(): Promise<void>
  /** SIGSTOP: the server hangs, connections stay open and nothing is answered. */
  pause(): void
  /** SIGCONT after pause(). */
  resume(): void
}

/** A redis-server with AOF on, appendfsync always, noeviction and hz 100 (the settings the README gives). */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'tb-redis-'))
  let child: ChildProcess | null = null
  const spawnOnce = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--maxmemory-policy',
        'noeviction',
        '--hz',
        '100',
      ],
      { stdio: 'ignore' },
    )
    await waitForPing(port, 15_000, child)
  }
  // A restart can find the port briefly held (a socket still closing); try again rather than give up.
  const start = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await spawnOnce()
      } catch (err) {
        if (attempt >= 10) throw err
        await new Promise((r) => setTimeout(r, 500))
      }
    }
  }
  const kill = async () => {
    const c = child
    if (!c || c.exitCode !== null) return
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGKILL')
    await exited
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    pause: () => {
      child?.kill('SIGSTOP')
    },
    resume: () => {
      child?.kill('SIGCONT')
    },
    async stop() {
      child?.kill('SIGCONT')
      await kill()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export interface PrivateCluster {
  /** Seed list for REDIS_URL with REDIS_CLUSTER=true. */
  url: string
  ports: number[]
  stop(): Promise<void>
}

/** A Redis Cluster of `masters` nodes (no replicas) on loopback, created with `redis-cli --cluster create`. */
export async function startPrivateCluster(masters = 3): Promise<PrivateCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'tb-cluster-'))
  const ports: number[] = []
  const children: ChildProcess[] = []
  const stop = async () => {
    await Promise.all(
      children.map((c) => {
        if (c.exitCode !== null) return undefined
        const exited = new Promise((r) => c.once('exit', r))
        c.kill('SIGKILL')
        return exited
      }),
    )
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort(true)
      ports.push(port)
      children.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '5000',
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
            '--hz',
            '100',
          ],
          { stdio: 'ignore' },
        ),
      )
    }
    await Promise.all(ports.map((p) => waitForPing(p)))
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    // Every node must agree that all slots are served before clients connect.
    const deadline = Date.now() + 20_000
    for (const port of ports) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info'])
        if (/cluster_state:ok/.test(stdout)) break
        if (Date.now() > deadline) throw new Error(`cluster node ${port} never reached cluster_state:ok`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','), ports, stop }
}
