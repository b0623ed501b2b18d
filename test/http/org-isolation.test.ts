import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, KEYS } from '../helpers/app.js'
import { group, inbound, lid, pn, T0 } from '../helpers/events.js'
import { expectApiError, simWorker, storedState, useApp } from './support.js'

/**
 * One org's key can neither read nor change another org's sessions, whatever id it guesses: every such
 * request answers exactly like a session that does not exist, and stored state does not move.
 */

const ref = useApp('http-org-isolation')
let worker: ReturnType<typeof simWorker>

beforeAll(async () => {
  const { ingestor } = ref.f.services
  await ingestor.ingest(inbound('acme-sales', pn(1), { ts: T0, pushName: 'Maria' }))
  await ingestor.ingest(inbound('acme-sales', lid(2), { ts: T0, alt: pn(2), pushName: 'Lars' }))
  await ingestor.ingest(inbound('acme-sales', group(1), { ts: T0, participant: pn(3) }))
  await ingestor.ingest(inbound('globex-main', pn(1), { ts: T0, pushName: 'Gustav' }))
  await ref.f.services.statuses.set('acme-sales', 'WORKING')
  ref.f.clock.set(T0 + 60_000)
  // A live acme session: if a globex presence leaked through, it would succeed and be recorded.
  worker = simWorker(ref.f)
  await worker.open('acme-sales')
})
afterAll(async () => {
  await worker.close()
})

type Req = { method: 'GET' | 'POST' | 'PUT'; url: string; payload?: object }

/** Every route that names a session, with ids of chats that exist in acme-sales. */
function routesFor(sid: string): Req[] {
  const s = `/v1/sessions/${sid}`
  return [
    { method: 'GET', url: s },
    { method: 'GET', url: `${s}/chats/overview` },
    { method: 'GET', url: `${s}/chats/overview?filter=unread&limit=5` },
    { method: 'GET', url: `${s}/chats/${pn(1)}` },
    { method: 'GET', url: `${s}/chats/${pn(2)}` },
    { method: 'GET', url: `${s}/chats/${group(1)}` },
    { method: 'GET', url: `${s}/chats/${pn(404)}` },
    { method: 'GET', url: `${s}/contacts` },
    { method: 'GET', url: `${s}/contacts?q=maria&source=dm` },
    { method: 'POST', url: `${s}/chats/${pn(1)}/read` },
    { method: 'POST', url: `${s}/chats/${lid(2)}/read` },
    { method: 'POST', url: `${s}/chats/${pn(1)}/no-reply-needed` },
    { method: 'PUT', url: `${s}/chats/${pn(1)}/presence`, payload: { state: 'composing' } },
    { method: 'POST', url: `/v1/sim/sessions/${sid}/messages`, payload: { chatId: pn(1), text: 'spoofed' } },
    { method: 'GET', url: `/v1/sim/sessions/${sid}/actions` },
  ]
}

const send = (req: Req, key: string) =>
  ref.f.app.inject({
    method: req.method,
    url: req.url,
    headers: bearer(key),
    ...(req.payload ? { payload: req.payload } : {}),
  })

/** The answer with the guessed id blanked out, to compare with the answer for a missing session. */
async function answer(req: Req, key: string, sid: string) {
  const res = await send(req, key)
  const error = expectApiError(res, 404, 'not_found')
  return { status: res.statusCode, error: { ...error, message: error.message.replaceAll(sid, '<sid>') } }
}

describe('a globex key against acme sessions', () => {
  it('lists only its own sessions', async () => {
    const res = await ref.f.app.inject({ url: '/v1/sessions', headers: bearer(KEYS.globexAdmin) })
    expect(res.statusCode).toBe(200)
    expect(res.json().items.map((s: { id: string }) => s.id)).toEqual(['globex-main'])
    const acme = await ref.f.app.inject({ url: '/v1/sessions', headers: bearer(KEYS.acmeAdmin) })
    expect(acme.json().items.map((s: { id: string }) => s.id)).toEqual(['acme-sales', 'acme-support'])
  })

  it('gets exactly the answer of a missing session on every route, for every guessed id, and changes nothing', async () => {
    const before = await storedState(ref.f)
    const guesses: Array<[path: string, decoded: string]> = [
      ['acme-sales', 'acme-sales'],
      ['acme-support', 'acme-support'],
      ['acme%2Dsales', 'acme-sales'],
      ['Acme-Sales', 'Acme-Sales'],
      ['acme', 'acme'],
    ]
    let compared = 0
    for (const [path, decoded] of guesses) {
      const missing = routesFor('no-such-session')
      const guessed = routesFor(path)
      for (const [i, req] of guessed.entries()) {
        const got = await answer(req, KEYS.globexAdmin, decoded)
        const reference = await answer(missing[i]!, KEYS.globexAdmin, 'no-such-session')
        expect(got, `${req.method} ${req.url}`).toEqual(reference)
        expect(got.error.message).toBe('session <sid> not found')
        compared++
      }
    }
    expect(compared).toBe(5 * 15)
    expect(await storedState(ref.f)).toEqual(before)

    // The acme chats are as they were, seen through acme's own key.
    const chat = await ref.f.app.inject({
      url: `/v1/sessions/acme-sales/chats/${pn(1)}`,
      headers: bearer(KEYS.acmeRead),
    })
    expect(chat.json()).toMatchObject({ unreadCount: 1, unanswered: 1, name: 'Maria' })
    const actions = await ref.f.app.inject({
      url: '/v1/sim/sessions/acme-sales/actions',
      headers: bearer(KEYS.acmeRead),
    })
    expect(actions.json()).toEqual({ items: [], lastSeq: null })
  })

  it('still works on its own session (the 404s are not a broken key)', async () => {
    const res = await ref.f.app.inject({
      url: `/v1/sessions/globex-main/chats/${pn(1)}`,
      headers: bearer(KEYS.globexAdmin),
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ name: 'Gustav', owner: 'gina' })
  })
})

describe('acme keys against the globex session', () => {
  it('answer 404 not_found on every route and change nothing', async () => {
    const before = await storedState(ref.f)
    for (const key of [KEYS.acmeAdmin, KEYS.acmeRead, KEYS.acmeSend]) {
      for (const [i, req] of routesFor('globex-main').entries()) {
        const res = await send(req, key)
        // A key lacking the route's capability is refused before any session lookup (403, same for
        // every session id, so it tells nothing either).
        if (res.statusCode === 403) {
          expect(key).not.toBe(KEYS.acmeAdmin)
          const missing = await send(routesFor('no-such-session')[i]!, key)
          expect(missing.statusCode).toBe(403)
          expect(res.json()).toEqual(missing.json())
          continue
        }
        const error = expectApiError(res, 404, 'not_found')
        expect(error).toEqual({ code: 'not_found', message: 'session globex-main not found', details: {} })
      }
    }
    expect(await storedState(ref.f)).toEqual(before)
  })
})
