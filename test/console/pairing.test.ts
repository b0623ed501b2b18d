import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KEYS } from '../helpers/app.js'
import {
  axeViolations,
  type ConsoleService,
  consoleService,
  launchChromium,
  signIn,
  watchedPage,
} from './support.js'

let svc: ConsoleService
let browser: Browser

beforeAll(async () => {
  svc = await consoleService('console-pair')
  browser = await launchChromium()
}, 60_000)
afterAll(async () => {
  await browser?.close()
  await svc?.close()
})

/** An admin signs in, makes a pairing link for the session on the sessions page and reads it off. */
async function pairingLinkFor(sid: string): Promise<string> {
  const context = await browser.newContext()
  const { page, errors } = await watchedPage(context)
  await signIn(page, svc.url, KEYS.acmeAdmin)
  await page.getByRole('button', { name: `Pairing link for ${sid}` }).click()
  const link = await page.getByTestId('pairing-link').inputValue()
  expect(errors).toEqual([])
  await context.close()
  return link
}

/** The phone holder's browser: a phone-sized screen, no key, no sign-in. */
const phone = () =>
  browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true })

// A browser on a shared 2-core machine is slow: each test may take a minute.
describe('pairing through a one-time link', { timeout: 90_000 }, () => {
  it("shows only that session's live QR on a phone; scanning it flips the page to linked without a reload", async () => {
    const logout = await svc.call('POST', '/v1/sessions/acme-sales/logout', KEYS.acmeAdmin)
    expect(logout.body).toMatchObject({ status: 'FAILED' })
    const link = await pairingLinkFor('acme-sales')
    expect(link).toMatch(new RegExp(`^${svc.url}/console/pair#[A-Za-z0-9_-]{43}$`))

    const context = await phone()
    const { page, errors } = await watchedPage(context)
    await page.goto(link)
    const qrImage = page.locator('img.qr')
    await qrImage.waitFor()
    // The token left the address bar as soon as it was used.
    expect(page.url()).toBe(`${svc.url}/console/pair`)
    const qr = await qrImage.getAttribute('data-qr')
    expect(qr).toBe((await svc.services.statuses.get('acme-sales')).qr)
    expect(await page.locator('h1').textContent()).toBe('Link a phone to Sales')
    // Fits a 360 px screen: nothing wider than the viewport.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360)
    expect(await axeViolations(page)).toEqual([])
    if (process.env.CONSOLE_SCREENSHOTS) await page.screenshot({ path: 'docs/img/console-pair-phone.png' })

    const nav = page.waitForEvent('framenavigated', { timeout: 500 }).then(
      () => 'reloaded',
      () => 'stayed',
    )
    const scan = await svc.call('POST', '/v1/sim/sessions/acme-sales/scan', KEYS.acmeAdmin, { qr })
    expect(scan.status).toBe(202)
    await page.getByText('The phone is linked').waitFor({ timeout: 10_000 })
    expect(await page.getByTestId('pair-status').getAttribute('data-status')).toBe('WORKING')
    expect(await nav).toBe('stayed')
    expect((await svc.services.statuses.get('acme-sales')).status).toBe('WORKING')
    expect(errors).toEqual([])
    await context.close()
  })

  it('follows the QR code each time the session reports a new one (WhatsApp rotates it)', async () => {
    await svc.call('POST', '/v1/sessions/acme-support/logout', KEYS.acmeAdmin)
    const link = await pairingLinkFor('acme-support')
    const context = await phone()
    const { page } = await watchedPage(context)
    await page.goto(link)
    await page.locator('img.qr').waitFor()
    const first = await page.locator('img.qr').getAttribute('data-qr')
    // What the worker writes when WhatsApp rotates the code; the page follows by itself.
    const { holder } = await svc.services.statuses.get('acme-support')
    await svc.services.statuses.set('acme-support', 'SCAN_QR_CODE', {
      qr: 'rotated-by-the-test',
      holder: holder!,
    })
    await page.locator('img.qr[data-qr="rotated-by-the-test"]').waitFor({ timeout: 5000 })
    expect(first).not.toBe('rotated-by-the-test')
    await context.close()
  })

  it('refuses a link opened a second time, and one opened after it expired', async () => {
    await svc.call('POST', '/v1/sessions/acme-sales/logout', KEYS.acmeAdmin)
    const link = await pairingLinkFor('acme-sales')
    const first = await phone()
    const { page } = await watchedPage(first)
    await page.goto(link)
    await page.locator('img.qr').waitFor()
    await first.close()

    const second = await phone()
    const again = await watchedPage(second)
    await again.page.goto(link)
    expect(await again.page.getByRole('alert').textContent()).toMatch(/already used or has expired/)
    expect(await again.page.locator('img.qr').count()).toBe(0)
    await second.close()

    const late = await pairingLinkFor('acme-sales')
    svc.clock.offsetMs = 11 * 60_000 // links last 10 minutes
    try {
      const third = await phone()
      const expired = await watchedPage(third)
      await expired.page.goto(late)
      expect(await expired.page.getByRole('alert').textContent()).toMatch(/already used or has expired/)
      await third.close()
    } finally {
      svc.clock.offsetMs = 0
    }
  })

  it('makes a link only for an admin key of the same org', async () => {
    const context = await browser.newContext()
    const { page } = await watchedPage(context)
    await signIn(page, svc.url, KEYS.globexAdmin)
    const status = await page.evaluate(async () => {
      const me = (await (await fetch('/console/api/me')).json()) as { csrf: string }
      const res = await fetch('/console/api/sessions/acme-sales/pairing-links', {
        method: 'POST',
        headers: { 'x-tickbridge-csrf': me.csrf },
      })
      return res.status
    })
    expect(status).toBe(404)
    await context.close()
  })
})
