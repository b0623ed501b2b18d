import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOpsApp } from '../../src/http/ops-app.js'
import { bearer, KEYS } from '../helpers/app.js'
import { inbound, pn, T0 } from '../helpers/events.js'
import { useApp } from './support.js'

/** The app on a real TCP socket, as bots and the docs UI reach it; the metrics listener as Prometheus does. */

const ref = useApp('http-socket')
let base = ''
let ops: Awaited<ReturnType<typeof buildOpsApp>>
let metricsBase = ''

beforeAll(async () => {
  await ref.f.services.ingestor.ingest(inbound('acme-sales', pn(1), { ts: T0, text: 'over the wire' }))
  await ref.f.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ref.f.app.server.address() as AddressInfo
  base = `http://127.0.0.1:${port}`
  ops = await buildOpsApp({ services: ref.f.services, queues: [] })
  metricsBase = await ops.listen({ port: 0, host: '127.0.0.1' })
})
afterAll(() => ops.close())

const V1_ROUTES = [
  ['get', '/v1/sessions'],
  ['get', '/v1/sessions/{sid}'],
  ['get', '/v1/sessions/{sid}/chats/overview'],
  ['get', '/v1/sessions/{sid}/chats/{jid}'],
  ['post', '/v1/sessions/{sid}/chats/{jid}/read'],
  ['post', '/v1/sessions/{sid}/chats/{jid}/no-reply-needed'],
  ['put', '/v1/sessions/{sid}/chats/{jid}/presence'],
  ['get', '/v1/sessions/{sid}/contacts'],
  ['post', '/v1/sim/sessions/{sid}/messages'],
  ['get', '/v1/sim/sessions/{sid}/actions'],
] as const

interface Operation {
  parameters?: Array<{ in: string; name: string; required: boolean }>
  requestBody?: unknown
  responses: Record<string, { content?: Record<string, { schema: { properties?: object } }> }>
}
interface OpenApiDoc {
  openapi: string
  info: Record<string, unknown>
  components: { securitySchemes: Record<string, unknown> }
  paths: Record<string, Record<string, Operation>>
}
interface Page {
  items: Array<Record<string, unknown>>
  nextCursor: string
}
interface ErrorJson {
  error: { code: string; message: string; details: object }
}

describe('over a real socket', () => {
  it('serves /healthz, an authenticated route and a JSON 404', async () => {
    const health = await fetch(`${base}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: 'ok' })

    const overview = await fetch(`${base}/v1/sessions/acme-sales/chats/overview`, {
      headers: bearer(KEYS.acmeRead),
    })
    expect(overview.status).toBe(200)
    expect(overview.headers.get('content-type')).toMatch(/^application\/json/)
    const body = (await overview.json()) as Page
    expect(body.items).toHaveLength(1)
    expect(body.items[0]).toMatchObject({ jid: pn(1), lastMessage: { preview: 'over the wire' } })

    const unauthorized = await fetch(`${base}/v1/sessions`)
    expect(unauthorized.status).toBe(401)
    expect(((await unauthorized.json()) as ErrorJson).error.code).toBe('unauthorized')

    const missing = await fetch(`${base}/v1/no/such/route`, { headers: bearer(KEYS.acmeRead) })
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await missing.json()).toEqual({
      error: { code: 'not_found', message: 'no route GET /v1/no/such/route', details: {} },
    })

    const post = await fetch(`${base}/v1/sessions/acme-sales/chats/${pn(1)}/read`, {
      method: 'POST',
      headers: bearer(KEYS.acmeSend),
    })
    expect(post.status).toBe(200)
    expect(((await post.json()) as { unreadCount: number }).unreadCount).toBe(0)
  })

  it('serves a valid OpenAPI 3 document listing every /v1 route', async () => {
    const res = await fetch(`${base}/openapi.json`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const doc = (await res.json()) as OpenApiDoc
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/)
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) })
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' })
    for (const [method, path] of V1_ROUTES) {
      const op = doc.paths[path]?.[method]
      if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in the OpenAPI document`)
      expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(0)
      // Every {param} of the path is declared as a required path parameter.
      const declared = (op.parameters ?? [])
        .filter((p) => p.in === 'path')
        .map((p) => {
          expect(p.required).toBe(true)
          return p.name
        })
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])
      expect(declared.sort(), `${method} ${path}`).toEqual(inPath.sort())
    }
    // Structural validity: every operation has responses keyed by status codes and no stray methods.
    for (const [path, item] of Object.entries(doc.paths)) {
      expect(path.startsWith('/')).toBe(true)
      for (const [method, op] of Object.entries(item)) {
        expect(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'parameters']).toContain(method)
        if (method === 'parameters') continue
        for (const status of Object.keys(op.responses)) expect(status).toMatch(/^([1-5]\d\d|default)$/)
      }
    }
    const overview = doc.paths['/v1/sessions/{sid}/chats/overview']!.get!
    const query = (overview.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name)
    expect(query.sort()).toEqual(['cursor', 'filter', 'limit'])
    expect(overview.responses['200']?.content?.['application/json']?.schema.properties).toHaveProperty(
      'nextCursor',
    )
    expect(doc.paths['/v1/sessions/{sid}/chats/{jid}/presence']!.put!.requestBody).toBeDefined()
  })

  it('serves Prometheus metrics with HTTP latency and session states on the metrics listener only', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(404)
    const res = await fetch(`${metricsBase}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    expect(text).toMatch(/^# HELP tickbridge_http_request_seconds /m)
    expect(text).toMatch(/^# TYPE tickbridge_http_request_seconds histogram$/m)
    expect(text).toMatch(
      /^tickbridge_http_request_seconds_count\{[^}]*route="\/v1\/sessions\/:sid\/chats\/overview"[^}]*\} [1-9]/m,
    )
    expect(text).toMatch(/^# TYPE tickbridge_sessions gauge$/m)
    expect(text).toMatch(/^tickbridge_sessions\{status="STOPPED"\} 3$/m)
    expect(text).toMatch(/^tickbridge_sessions\{status="WORKING"\} 0$/m)
  })
})
