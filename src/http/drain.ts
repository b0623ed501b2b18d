import type { Server } from 'node:http'

/**
 * Closes an HTTP server the way a shutdown wants it: no new connections, every request already being
 * served answered, then every connection dropped. Node's `server.close()` alone waits for connections
 * that carry no request at all: a socket a client opened and has not used yet (HTTP clients and load
 * balancers open spare ones) is not "idle" to it, so the close waited for the client to hang up (the
 * 25 s shutdown of issue 26). Create it before the server takes requests, so it counts them all.
 */
export function drainer(server: Server) {
  let active = 0
  let drained: (() => void) | null = null
  server.on('request', (_req, res) => {
    active++
    res.once('close', () => {
      active--
      if (active === 0) drained?.()
    })
  })
  return {
    /** `stop` stops the server (Fastify's close: new requests on open connections get a 503). */
    async close(stop: () => Promise<void>): Promise<void> {
      const stopped = stop()
      if (active > 0) await new Promise<void>((resolve) => (drained = resolve))
      // Every request is answered: what is left carries none in flight.
      server.closeAllConnections()
      await stopped
    },
  }
}
