import { execFileSync } from 'node:child_process'
import { Curve, makeWASocket, proto, WA_CERT_DETAILS } from '@whiskeysockets/baileys'
import { afterEach, describe, expect, it } from 'vitest'
import { type Box, startBox } from './box.js'
import { BOX_ROOT_KEY, BOX_ROOT_SERIAL } from './ca.js'
import { buildCertChain } from './certificates.js'
import { boxSocketConfig, connect, linkedAuth } from './client.js'
import { verifyStrict } from './signature.js'

let box: Box
afterEach(async () => {
  await box?.close()
})

describe('wa-box: transport and login', () => {
  it("the box's certificate chain is signed as processHandshake expects: root → intermediate → leaf = server static", () => {
    const serverStatic = Curve.generateKeyPair()
    const chain = proto.CertChain.decode(buildCertChain(serverStatic, 1_700_000_000))
    const inter = proto.CertChain.NoiseCertificate.Details.decode(
      chain.intermediate?.details ?? new Uint8Array(),
    )
    const leaf = proto.CertChain.NoiseCertificate.Details.decode(chain.leaf?.details ?? new Uint8Array())
    expect(inter.issuerSerial).toBe(BOX_ROOT_SERIAL)
    expect(
      verifyStrict(
        BOX_ROOT_KEY.public,
        chain.intermediate?.details ?? Buffer.alloc(0),
        chain.intermediate?.signature ?? Buffer.alloc(0),
      ),
    ).toBe(true)
    expect(
      verifyStrict(
        inter.key ?? Buffer.alloc(0),
        chain.leaf?.details ?? Buffer.alloc(0),
        chain.leaf?.signature ?? Buffer.alloc(0),
      ),
    ).toBe(true)
    expect(Buffer.from(leaf.key ?? []).equals(serverStatic.public)).toBe(true)
    // a strict check, unlike Baileys' Curve.verify: a wrong signature fails
    expect(
      verifyStrict(BOX_ROOT_KEY.public, chain.leaf?.details ?? Buffer.alloc(0), Buffer.alloc(64, 7)),
    ).toBe(false)
  })

  it('a real Baileys socket with linked creds reaches open, stays open through its init queries, and ends cleanly', async () => {
    box = await startBox()
    const auth = linkedAuth(box)
    const c = connect(box, auth, { keepAliveIntervalMs: 300 })
    await c.next((u) => u.connection === 'open')
    await c.next((u) => u.receivedPendingNotifications === true)
    // Baileys' own code ran its post-login IQs against the box: pre-keys were counted and uploaded
    const device = box.account.devices.get(1)
    expect(device?.preKeys.size).toBeGreaterThan(0)
    expect(device?.signedPreKey?.keyId).toBe(auth.state.creds.signedPreKey.keyId)
    expect(auth.state.creds.me?.lid).toBe(device?.lidJid)
    // the init queries (props, blocklist, privacy), the presence, and two keep-alive pings later
    const expected = ['encrypt', 'passive', 'abt', 'blocklist', 'privacy']
    await box.records.waitFor(() => expected.every((x) => box.records.iqNamespaces().includes(x)))
    await box.records.waitFor(() => box.records.presences.find((p) => p.type === 'unavailable'))
    await box.records.waitFor(() => box.records.iqNamespaces().filter((x) => x === 'w:p').length >= 2)
    expect(box.records.unmodelledIqs.map((n) => n.attrs.xmlns)).toEqual([])
    expect(box.records.boxErrors).toEqual([])
    expect(c.updates.some((u) => u.connection === 'close')).toBe(false)
    c.sock.end(undefined)
    expect(await c.closeCode()).toBeUndefined()
    expect(c.updates.filter((u) => u.connection === 'close')).toHaveLength(1)
  })

  it('a child process started with the preload trusts the same root (fixed seed), before any socket exists', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        './test/wa-server/trust-preload.ts',
        '--input-type=module',
        '-e',
        "import { WA_CERT_DETAILS as d } from '@whiskeysockets/baileys'; console.log(d.SERIAL, d.PUBLIC_KEY.toString('hex'))",
      ],
      { encoding: 'utf8' },
    )
    expect(out.trim()).toBe(`${BOX_ROOT_SERIAL} ${Buffer.from(BOX_ROOT_KEY.public).toString('hex')}`)
  })

  it("a process that does not trust the box's CA refuses its certificate chain (Baileys' own check)", async () => {
    box = await startBox()
    const auth = linkedAuth(box)
    const config = boxSocketConfig(box, auth.state) // trusts the box ...
    const trusted = { ...WA_CERT_DETAILS }
    WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(
      '142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b',
      'hex',
    )
    WA_CERT_DETAILS.SERIAL = 0 // ... then this process goes back to WhatsApp's real root
    try {
      const sock = makeWASocket(config)
      const closed = await new Promise<{ statusCode?: number; message?: string }>((resolve) =>
        sock.ev.on('connection.update', (u) => {
          const err = u.lastDisconnect?.error as
            | { output?: { statusCode?: number }; message?: string }
            | undefined
          if (u.connection === 'close')
            resolve({ statusCode: err?.output?.statusCode, message: err?.message })
        }),
      )
      // Baileys' signature checks pass whatever the signature (see ./signature.ts), so what refuses the box
      // is the issuer serial check of `processHandshake`
      expect(closed).toEqual({ statusCode: 400, message: 'certification match failed' })
    } finally {
      Object.assign(WA_CERT_DETAILS, trusted)
    }
  })
})
