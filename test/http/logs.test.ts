import { describe, expect, it } from 'vitest'
import { sha256Hex } from '../../src/http/auth.js'
import { bearer, KEYS } from '../helpers/app.js'
import { pn } from '../helpers/events.js'
import { useApp } from './support.js'

/** Secrets (API keys, their hashes, tokens) never reach the log output. */

const ref = useApp('http-logs')

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
const WRONG_KEYS = ['tbk_acme_read_0009', 'tbk_totally_wrong_key_1234']

describe('log output', () => {
  it('never contains a key, its sha256 or an Authorization header value', async () => {
    const { app, logLines } = ref.f
    const authorizations: string[] = []
    const call = async (url: string, authorization: string, method: 'GET' | 'POST' = 'GET') => {
      authorizations.push(authorization)
      await app.inject({ method, url, headers: { authorization } })
    }
    for (const key of [...Object.values(KEYS), ...WRONG_KEYS]) {
      await call('/v1/sessions', `Bearer ${key}`)
      await call('/v1/sessions/acme-sales/chats/overview?limit=0', `Bearer ${key}`)
      await call(`/v1/sessions/acme-sales/chats/${pn(1)}/read`, `Bearer ${key}`, 'POST')
      await call('/v1/sessions/globex-main', `Bearer ${key}`)
      await call('/admin/queues', `Bearer ${key}`)
      await call('/admin/queues', basic('x', key))
      await call('/admin/queues/api/queues', basic('admin', key))
      await call('/v1/nothing', `Bearer ${key}`)
      await call('/v1/sessions', `bearer  ${key}  `)
    }
    // A malformed JSON body and an oversize body with a key in them.
    await app.inject({
      method: 'POST',
      url: '/v1/sim/sessions/acme-sales/messages',
      headers: { ...bearer(KEYS.acmeSend), 'content-type': 'application/json' },
      payload: `{"text": "${KEYS.acmeAdmin}"`,
    })

    const output = logLines.join('')
    // The requests were logged (so the check below looks at real output).
    expect(logLines.filter((l) => l.includes('"msg":"request"')).length).toBeGreaterThanOrEqual(
      authorizations.length,
    )
    for (const key of [...Object.values(KEYS), ...WRONG_KEYS]) {
      expect(output).not.toContain(key)
      expect(output).not.toContain(sha256Hex(key))
    }
    for (const a of authorizations) expect(output).not.toContain(a.trim())
    for (const a of authorizations.filter((x) => x.startsWith('Basic ')))
      expect(output).not.toContain(a.slice(6))
    expect(output.toLowerCase()).not.toContain('"authorization"')
  })

  it('redacts tokens wherever the service logs them', async () => {
    const { services, logLines } = ref.f
    const secrets = {
      accessToken: 'pat-eu1-SECRET-ACCESS-0001',
      token: 'SECRET-TOKEN-0002',
      apiKey: 'SECRET-APIKEY-0003',
      HUBSPOT_ACCESS_TOKEN: 'pat-eu1-SECRET-ENV-0004',
      nestedAccess: 'pat-eu1-SECRET-NESTED-0005',
      nestedApiKey: 'SECRET-NESTED-APIKEY-0006',
      authorization: 'Bearer SECRET-AUTH-0007',
      password: 'SECRET-PASSWORD-0008',
    }
    const before = logLines.length
    services.log.info(
      {
        accessToken: secrets.accessToken,
        token: secrets.token,
        apiKey: secrets.apiKey,
        HUBSPOT_ACCESS_TOKEN: secrets.HUBSPOT_ACCESS_TOKEN,
        hubspot: { accessToken: secrets.nestedAccess, portal: 42 },
        bot: { apiKey: secrets.nestedApiKey },
        headers: { authorization: secrets.authorization },
        redis: { password: secrets.password },
      },
      'config snapshot',
    )
    services.log
      .child({ component: 'crm' })
      .warn({ env: { HUBSPOT_ACCESS_TOKEN: secrets.HUBSPOT_ACCESS_TOKEN } }, 'env')
    const lines = logLines.slice(before)
    expect(lines).toHaveLength(2)
    const output = lines.join('')
    for (const secret of Object.values(secrets)) expect(output).not.toContain(secret)
    const first = JSON.parse(lines[0]!)
    expect(first).toMatchObject({
      msg: 'config snapshot',
      accessToken: '[redacted]',
      token: '[redacted]',
      apiKey: '[redacted]',
      HUBSPOT_ACCESS_TOKEN: '[redacted]',
      hubspot: { accessToken: '[redacted]', portal: 42 },
      bot: { apiKey: '[redacted]' },
      headers: { authorization: '[redacted]' },
      redis: { password: '[redacted]' },
    })
    expect(JSON.parse(lines[1]!)).toMatchObject({ env: { HUBSPOT_ACCESS_TOKEN: '[redacted]' } })
  })
})
