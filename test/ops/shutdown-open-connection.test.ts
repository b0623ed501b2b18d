import { randomBytes } from 'node:crypto'
import { Agent, createServer, get } from 'node:http'
import { type AddressInfo, connect, type Socket } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { drainer } from '../../src/http/drain.js'
import { type Spawned, spawnTs } from '../helpers/process.js'

/**
 * Issue 26: SIGTERM waited the whole 25 s on "in-flight HTTP requests to finish" with none in flight.
 * What held it: a connection carrying no request (a client's spare keep-alive socket, opened and not
 * used yet), which Node's server.close() waits for until the client hangs up.
 */

let service: Spawned | null = null
const sockets: Socket[] = []
afterAll(() => {
  for (const s of sockets) s.destroy()
  if (service && service.child.exitCode === null) service.child.kill('SIGKILL')
})

const openSilently = async (port: number) => {
  const s = connect(port, '127.0.0.1')
  s.on('error', () => {})
  sockets.push(s)
  await new Promise((resolve) => s.once('connect', resolve))
  return s
}

describe('shutdown with open HTTP connections', () => {
  it('SIGTERM with an unused and a used keep-alive connection open exits at once, not after 25 s', async () => {
    service = spawnTs('src/main.ts', ['all'], {
      TICKBRIDGE_PREFIX: `tbt-shut-conn-${randomBytes(3).toString('hex')}`,
      TICKBRIDGE_RULES: 'config/rules.example.yaml',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_FORMAT: 'json',
    })
    const listening = JSON.parse(await service.waitFor(/"msg":"HTTP API listening"/, 30_000)) as {
      url: string
    }
    const metrics = JSON.parse(await service.waitFor(/"msg":"metrics listening"/)) as { metrics: string }
    await service.waitFor(/worker started/)
    const port = Number(new URL(listening.url).port)
    // A keep-alive connection that served a request, and ones that were opened and never used.
    const agent = new Agent({ keepAlive: true })
    const status = await new Promise<number>((resolve, reject) =>
      get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      }).on('error', reject),
    )
    expect(status).toBe(200)
    await openSilently(port)
    await openSilently(Number(new URL(metrics.metrics).port))

    const sentAt = Date.now()
    service.child.kill('SIGTERM')
    expect(await service.exited).toBe(0)
    expect(Date.now() - sentAt).toBeLessThan(10_000)
    expect(service.stdout.some((l) => l.includes('"msg":"shutdown complete"'))).toBe(true)
    agent.destroy()
  }, 90_000)
})

describe('drainer', () => {
  it('lets a request being served finish, then drops the connections that carry none', async () => {
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    let serving: () => void = () => {}
    const inHandler = new Promise<void>((resolve) => (serving = resolve))
    const server = createServer((_req, res) => {
      serving()
      void held.then(() => res.end('done'))
    })
    const drain = drainer(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const answer = new Promise<string>((resolve, reject) =>
      get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => resolve(body))
      }).on('error', reject),
    )
    await inHandler
    const accepted = new Promise((resolve) => server.once('connection', resolve))
    const silent = await openSilently(port)
    await accepted
    const silentClosed = new Promise((resolve) => silent.once('close', resolve))

    let closed = false
    const closing = drain
      .close(() => new Promise<void>((resolve) => server.close(() => resolve())))
      .then(() => (closed = true))
    await new Promise((resolve) => setImmediate(resolve))
    // Closing has begun (no new connections), but the request being served holds it, and the silent
    // connection is kept until then.
    expect(server.listening).toBe(false)
    expect(closed).toBe(false)
    expect(silent.destroyed).toBe(false)
    release()
    expect(await answer).toBe('done')
    await closing
    await silentClosed
  })
})
