import { mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KEYS } from '../helpers/app.js'
import { pn } from '../helpers/events.js'
import {
  axeViolations,
  type ConsoleService,
  consoleService,
  launchChromium,
  signIn,
  watchedPage,
} from './support.js'

/**
 * Screenshots of every page: under the system's temp dir, or into docs/img/ (the README's pictures)
 * with CONSOLE_SCREENSHOTS=docs, so an ordinary run leaves the work tree as it was.
 */
const SHOTS = process.env.CONSOLE_SCREENSHOTS
  ? new URL('../../docs/img/', import.meta.url)
  : pathToFileURL(join(tmpdir(), 'tickbridge-console-screenshots/'))
const PAGES = ['sessions', 'inbox/acme-sales', 'counters', 'sla', 'hubspot', 'rules'] as const

let svc: ConsoleService
let browser: Browser

beforeAll(async () => {
  svc = await consoleService('console')
  browser = await launchChromium()
  await mkdir(SHOTS, { recursive: true })
}, 60_000)
afterAll(async () => {
  await browser?.close()
  await svc?.close()
})

const open = async (page: Page, path: string) => {
  await page.goto(`${svc.url}/console/#/${path}`)
  await page.getByRole('heading', { level: 1 }).waitFor()
}

// A browser on a shared 2-core machine is slow: each test may take a minute.
describe('the browser console', { timeout: 90_000 }, () => {
  it('signs in with a key, shows its org and capabilities, and signs out for good', async () => {
    const context = await browser.newContext()
    const { page, errors } = await watchedPage(context)
    await page.goto(`${svc.url}/`)
    expect(page.url()).toBe(`${svc.url}/console/`)
    await page.getByLabel('API key').fill('tbk_not_a_key_0000')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('unknown API key')
    errors.splice(0) // the refused sign-in is a 401 the browser logs as a failed resource

    await page.getByLabel('API key').fill(KEYS.acmeAdmin)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    expect(await page.getByTestId('who-org').textContent()).toBe('Org acme')
    expect(await page.getByTestId('who-caps').textContent()).toBe('read, send, admin')
    // The key is nowhere in the browser: not in storage, not in a cookie (only the session's random id).
    const cookies = await context.cookies()
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['tb_console', true, 'Strict']])
    expect(JSON.stringify(cookies)).not.toContain(KEYS.acmeAdmin)
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    )
    expect(stored).not.toContain(KEYS.acmeAdmin)

    await page.reload()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    const cookie = `tb_console=${cookies[0]!.value}`
    expect((await fetch(`${svc.url}/v1/sessions`, { headers: { cookie } })).status).toBe(200)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('API key').waitFor()
    // Signing out deleted the server-side session: the old cookie is worth nothing now.
    expect((await fetch(`${svc.url}/v1/sessions`, { headers: { cookie } })).status).toBe(401)
    expect(errors).toEqual([])
    await context.close()
  })

  it("org B's key never sees org A on any page", async () => {
    await svc.services.ingestor.ingest({
      type: 'message',
      sessionId: 'acme-sales',
      key: { remoteJid: pn(41), fromMe: false, id: 'ACMEONLY1' },
      timestamp: svc.clock.now(),
      text: 'acme secret',
      pushName: 'Acme Customer',
      origin: 'customer',
      delivery: 'live',
    })
    const context = await browser.newContext()
    const { page, errors } = await watchedPage(context)
    await signIn(page, svc.url, KEYS.globexAdmin)
    for (const path of ['sessions', 'inbox', 'inbox/acme-sales', 'counters', 'sla', 'hubspot', 'rules']) {
      await open(page, path)
      await page.waitForLoadState('networkidle')
      const text = ((await page.locator('body').textContent()) ?? '').toLowerCase()
      expect(text, path).not.toContain('acme')
      expect(text, path).not.toContain('anna')
    }
    // The API under the pages refuses the other org's session as if it did not exist.
    const res = await page.evaluate(
      async () => (await fetch('/v1/sessions/acme-sales/chats/overview')).status,
    )
    expect(res).toBe(404)
    // Live notices too: a change in org A's session never reaches org B's stream, org B's own does.
    await page.evaluate(`window.__notices = []; new EventSource('/console/api/events')
      .addEventListener('change', (e) => window.__notices.push(JSON.parse(e.data).sid))`)
    const write = (sid: string, n: number) =>
      svc.call(
        'POST',
        `/v1/sim/sessions/${sid}/messages`,
        sid.startsWith('acme') ? KEYS.acmeAdmin : KEYS.globexAdmin,
        {
          chatId: pn(n),
          text: 'hello',
        },
      )
    await write('acme-sales', 42)
    await write('globex-main', 43)
    await page.waitForFunction(
      () => (globalThis as unknown as { __notices: string[] }).__notices.includes('globex-main'),
      undefined,
      { timeout: 5000 },
    )
    await write('acme-support', 44)
    await write('globex-main', 45)
    await page.waitForFunction(
      () =>
        (globalThis as unknown as { __notices: string[] }).__notices.filter((s) => s === 'globex-main')
          .length >= 2,
      undefined,
      {
        timeout: 5000,
      },
    )
    expect(new Set(await page.evaluate<string[]>('window.__notices'))).toEqual(new Set(['globex-main']))
    expect(errors.filter((e) => !e.includes('404'))).toEqual([])
    await context.close()
  })

  it('transfers under 200 KB on a first visit: the sign-in page, signing in, and the sessions page', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    // What went over the wire, headers included, as Chromium's network layer counts it.
    const cdp = await context.newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true })
    const sizes = new Map<string, number>()
    const urls = new Map<string, string>()
    cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url))
    cdp.on('Network.loadingFinished', (e) => sizes.set(e.requestId, e.encodedDataLength))
    await signIn(page, svc.url, KEYS.acmeAdmin)
    await page.locator('tr[data-session="acme-sales"]').waitFor()
    await page.waitForLoadState('networkidle')
    const total = [...sizes.values()].reduce((a, b) => a + b, 0)
    const files = [...sizes.keys()].map((id) => `${urls.get(id)?.replace(svc.url, '')} ${sizes.get(id)}`)
    console.log(`console first load: ${total} bytes in ${sizes.size} requests\n  ${files.join('\n  ')}`)
    expect(total).toBeLessThan(200 * 1024)
    await context.close()
  })

  it('every page passes axe-core (no serious or critical violation), logs no error, and is screenshotted', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    const { page, errors } = await watchedPage(context)
    await signIn(page, svc.url, KEYS.acmeAdmin)
    for (const path of PAGES) {
      await open(page, path)
      await page.waitForLoadState('networkidle')
      expect(await axeViolations(page), path).toEqual([])
      await page.screenshot({ path: new URL(`console-${path.split('/')[0]}.png`, SHOTS).pathname })
    }
    await context.close()
    const signInPage = await watchedPage(await browser.newContext())
    await signInPage.page.goto(`${svc.url}/console/`)
    await signInPage.page.getByLabel('API key').waitFor()
    expect(await axeViolations(signInPage.page), 'sign-in').toEqual([])
    expect([...errors, ...signInPage.errors]).toEqual([])
  })
})
