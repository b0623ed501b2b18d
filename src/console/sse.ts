import type { FastifyReply, FastifyRequest } from 'fastify'

/** How often an idle stream sends a comment, so proxies keep it open and a dead peer is noticed. */
const HEARTBEAT_MS = 20_000

export interface EventStream {
  send(event: string, data: unknown): void
  close(): void
  readonly closed: Promise<void>
}

/**
 * Opens a server-sent-events stream on the reply (WHATWG HTML, "Server-sent events"): the browser's
 * EventSource reconnects by itself after a drop. `onHeartbeat` may end the stream (a signed-out
 * cookie, an expired pairing view).
 */
export function openEventStream(
  req: FastifyRequest,
  reply: FastifyReply,
  opts: { onHeartbeat?: (stream: EventStream) => Promise<void> | void } = {},
): EventStream {
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  res.write(': connected\n\n')
  let done = false
  let resolveClosed: () => void = () => {}
  const closed = new Promise<void>((r) => {
    resolveClosed = r
  })
  const heartbeat = setInterval(() => {
    if (done) return
    res.write(': heartbeat\n\n')
    void Promise.resolve(opts.onHeartbeat?.(stream)).catch(() => stream.close())
  }, HEARTBEAT_MS)
  const stream: EventStream = {
    send(event, data) {
      if (!done) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    },
    close() {
      if (done) return
      done = true
      clearInterval(heartbeat)
      res.end()
      resolveClosed()
    },
    closed,
  }
  req.raw.on('close', () => stream.close())
  return stream
}
