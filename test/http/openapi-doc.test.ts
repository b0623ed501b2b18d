import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appFixture } from '../helpers/app.js'

/** The OpenAPI document read as a person reads it in the docs UI. */

let f: Awaited<ReturnType<typeof appFixture>>
let spec: {
  security: unknown[]
  paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, Resp> }>>
}
interface Resp {
  content?: { 'application/json'?: { schema?: Record<string, unknown> } }
}
beforeAll(async () => {
  f = await appFixture('openapi-doc')
  spec = (await f.app.inject({ url: '/openapi.json' })).json()
})
afterAll(() => f.cleanup())

const STATUS_CODE: Record<string, string> = {
  '400': 'validation_error',
  '401': 'unauthorized',
  '403': 'forbidden',
  '404': 'not_found',
  '409': 'conflict',
  '429': 'rate_limited',
  '500': 'internal',
  '501': 'not_implemented',
  '503': 'unavailable',
}

const operations = () =>
  Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ path, method, op })),
  )

describe('OpenAPI document', () => {
  it('public routes carry no padlock; every other route does', () => {
    for (const path of ['/healthz', '/readyz']) expect(spec.paths[path]!.get!.security).toEqual([])
    expect(spec.paths['/metrics']).toBeUndefined() // on the metrics listener, not the API's port
    expect(spec.security).toEqual([{ bearer: [] }])
    expect(spec.paths['/v1/sessions']!.get!.security).toBeUndefined() // inherits the bearer default
  })

  it('every error status of every route has an example with its own code', () => {
    let checked = 0
    for (const { path, method, op } of operations()) {
      for (const [status, resp] of Object.entries(op.responses)) {
        if (Number(status) < 400 || (path === '/readyz' && status === '503')) continue
        const schema = resp.content?.['application/json']?.schema as {
          example?: { error: { code: string } }
          properties: { error: { properties: { code: { enum: string[] } } } }
        }
        const where = `${method.toUpperCase()} ${path} ${status}`
        expect(schema?.example?.error.code, where).toBe(STATUS_CODE[status])
        expect(schema.properties.error.properties.code.enum, where).toEqual([STATUS_CODE[status]])
        checked++
      }
    }
    expect(checked).toBeGreaterThan(50)
  })

  it('authenticated routes document 401, 429, 500 and 503, and 403 where a capability is needed', () => {
    const overview = spec.paths['/v1/sessions/{sid}/chats/overview']!.get!.responses
    for (const status of ['400', '401', '403', '404', '429', '500', '503'])
      expect(overview).toHaveProperty(status)
    const notFound = spec.paths['/v1/sessions/{sid}']!.get!.responses['404']!
    expect(
      (notFound.content!['application/json']!.schema as { example: { error: { code: string } } }).example
        .error.code,
    ).toBe('not_found')
  })

  it('integer examples are numbers a person would write, not ±9007199254740991', () => {
    const text = JSON.stringify(spec)
    expect(text).not.toContain('9007199254740991')
    const chat = spec.paths['/v1/sessions/{sid}/chats/{jid}']!.get!.responses['200']!.content![
      'application/json'
    ]!.schema as { properties: Record<string, { example?: number }> }
    expect(chat.properties.unanswered!.example).toBe(3)
  })
})
