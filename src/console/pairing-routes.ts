import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import QRCode from 'qrcode'
import { z } from 'zod'
import type { HttpDeps } from '../http/context.js'
import { iso } from '../http/dto.js'
import { ApiError } from '../http/errors.js'
import { CommandFailedError } from '../whatsapp/command-bus.js'
import { SessionNotLiveError } from '../whatsapp/port.js'
import { assertSameOrigin, cookieOf, hasCapability, setCookie, signedIn, visibleSession } from './access.js'
import type { ChangeSubscriber } from './changes.js'
import type { ConsoleStore, PairView } from './session-store.js'
import { type EventStream, openEventStream } from './sse.js'

export const PAIR_COOKIE = 'tb_pair'
const PAIR_PATH = '/console/api/pair/'

/**
 * One-time pairing links: an admin makes one for a session; whoever holds the phone opens it (no key)
 * and sees only that session's QR code, live, until the phone is linked. The link works once (the first
 * open turns it into a pairing view bound to that browser's cookie) and expires after minutes.
 */
export const pairingRoutes: FastifyPluginAsyncZod<
  HttpDeps & {
    store: ConsoleStore
    changes: ChangeSubscriber
    streams: Set<{ close(): void }>
    pairingLinkTtlMs?: number
  }
> = async (app, { services: s, gateway, store, changes, streams, pairingLinkTtlMs }) => {
  const ttlMs = pairingLinkTtlMs ?? 10 * 60_000
  const hidden = { config: { public: true }, schema: { hide: true } } as const

  app.post<{ Params: { sid: string } }>(
    '/console/api/sessions/:sid/pairing-links',
    hidden,
    async (req, reply) => {
      const principal = signedIn(req)
      if (!hasCapability(principal, 'admin'))
        throw new ApiError('forbidden', 'this API key lacks the "admin" capability', { required: 'admin' })
      const session = visibleSession(s.rules.current(), principal, req.params.sid)
      // As `sessions pair` does: make sure a worker runs the session and, if it stopped or failed,
      // re-opens it so that it shows a QR code.
      await s.statuses.setDesired(session.id, 'running')
      const st = await s.statuses.get(session.id)
      if (st.status === 'FAILED' || st.status === 'STOPPED') {
        await gateway.call(session.id, { cmd: 'restart' }).catch((err: unknown) => {
          if (!(err instanceof SessionNotLiveError)) throw err
        })
      }
      const { token, link } = await store.createPairingLink(session.id, principal.keyId, s.clock.now(), ttlMs)
      req.log.info({ sessionId: session.id, key: principal.keyId }, 'pairing link created')
      // The token travels in the fragment: browsers send it to no server and no Referer carries it.
      return reply.status(201).send({ path: `/console/pair#${token}`, expiresAt: iso(link.expiresAt) })
    },
  )

  const viewOf = async (req: FastifyRequest): Promise<PairView> => {
    const view = await store.pairViewOf(cookieOf(req, PAIR_COOKIE), s.clock.now())
    if (!view) throw new ApiError('unauthorized', 'this pairing page has expired: ask for a new link')
    return view
  }

  const stateOf = async (view: PairView) => {
    const session = s.rules.current().sessions.get(view.sessionId)
    const st = await s.reportedStatus(view.sessionId)
    const qr = st.status === 'SCAN_QR_CODE' ? st.qr : null
    return {
      sessionId: view.sessionId,
      label: session?.label ?? null,
      status: st.status,
      since: iso(st.since),
      detail: st.detail,
      qr,
      qrImage: qr ? await QRCode.toDataURL(qr, { errorCorrectionLevel: 'L', margin: 2, width: 320 }) : null,
      expiresAt: iso(view.expiresAt),
    }
  }

  app.post(
    `${PAIR_PATH}open`,
    { ...hidden, schema: { hide: true, body: z.object({ token: z.string().max(100) }).strict() } },
    async (req, reply) => {
      assertSameOrigin(req)
      const used = await store.usePairingLink(req.body.token, s.clock.now())
      if (!used)
        throw new ApiError(
          'not_found',
          'this pairing link was already used or has expired: ask for a new one',
        )
      setCookie(reply, req, PAIR_COOKIE, used.viewId, {
        path: PAIR_PATH,
        maxAgeMs: used.view.expiresAt - s.clock.now(),
      })
      req.log.info({ sessionId: used.view.sessionId }, 'pairing link opened')
      return stateOf(used.view)
    },
  )

  app.get(`${PAIR_PATH}state`, hidden, async (req) => stateOf(await viewOf(req)))

  app.get(`${PAIR_PATH}events`, hidden, async (req, reply) => {
    const view = await viewOf(req)
    let stream: EventStream | null = null
    const push = () =>
      stateOf(view).then(
        (state) => stream?.send('state', state),
        () => {},
      )
    // Subscribed before the stream opens: a Redis that cannot subscribe gets an ordinary error answer.
    const unlisten = await changes.listen((change) => {
      if (change.sid === view.sessionId && change.kind === 'status') void push()
    })
    stream = openEventStream(req, reply, {
      onHeartbeat: (st) => {
        if (view.expiresAt <= s.clock.now()) st.close()
      },
    })
    streams.add(stream)
    await push()
    const opened = stream
    void opened.closed.then(() => {
      unlisten()
      streams.delete(opened)
    })
  })

  app.post(
    `${PAIR_PATH}code`,
    {
      ...hidden,
      schema: {
        hide: true,
        body: z
          .object({ phone: z.string().regex(/^\d{6,15}$/, 'international format, digits only') })
          .strict(),
      },
    },
    async (req) => {
      assertSameOrigin(req)
      const view = await viewOf(req)
      try {
        const code = await gateway.call(view.sessionId, { cmd: 'pairingCode', phone: req.body.phone }, 35_000)
        return { code: code ?? '' }
      } catch (err) {
        // The holder ran the command and it failed there (not waiting to be paired, no phone pairing).
        if (err instanceof CommandFailedError)
          throw new ApiError('conflict', `no pairing code: ${err.message}`)
        throw err
      }
    },
  )
}
