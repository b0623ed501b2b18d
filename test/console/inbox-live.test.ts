import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KEYS } from '../helpers/app.js'
import { pn } from '../helpers/events.js'
import { type ConsoleService, consoleService, launchChromium, signIn, watchedPage } from './support.js'

let svc: ConsoleService
let browser: Browser

beforeAll(async () => {
  svc = await consoleService('console-live')
  browser = await launchChromium()
}, 60_000)
afterAll(async () => {
  await browser?.close()
  await svc?.close()
})

const customerWrites = (n: number, text: string) =>
  svc.call('POST', '/v1/sim/sessions/acme-sales/messages', KEYS.acmeAdmin, {
    chatId: pn(n),
    text,
    pushName: `Customer ${n}`,
  })

// A browser on a shared 2-core machine is slow: each test may take a minute.
describe('the console live', { timeout: 90_000 }, () => {
  it('shows a customer message in the inbox within 2 s, without a reload, and the counters move', async () => {
    const context = await browser.newContext()
    const inbox = await watchedPage(context)
    await signIn(inbox.page, svc.url, KEYS.acmeAdmin)
    await inbox.page.goto(`${svc.url}/console/#/inbox/acme-sales`)
    await inbox.page.getByRole('table').waitFor()
    const counters = await watchedPage(context)
    await counters.page.goto(`${svc.url}/console/#/counters`)
    const annaRed = counters.page.locator('tr[data-user="anna"] [data-testid="red"]')
    expect(await annaRed.textContent()).toBe('0')
    await inbox.page.getByText('live', { exact: true }).waitFor()
    await counters.page.getByText('live', { exact: true }).waitFor()
    let reloads = 0
    inbox.page.on('framenavigated', () => reloads++)
    counters.page.on('framenavigated', () => reloads++)

    const sent = Date.now()
    expect((await customerWrites(51, 'Is the blue jacket in stock?')).status).toBe(202)
    const row = inbox.page.locator(`tr[data-chat="${pn(51)}"]`)
    await row.waitFor({ timeout: 2000 })
    const seenAfterMs = Date.now() - sent
    expect(await row.getByTestId('unanswered').textContent()).toBe('1')
    expect(await row.textContent()).toContain('Is the blue jacket in stock?')
    await counters.page
      .locator('tr[data-user="anna"] [data-testid="red"]:text-is("1")')
      .waitFor({ timeout: 2000 })
    // dora supervises anna: the same message is grey for her.
    expect(await counters.page.locator('tr[data-user="dora"] [data-testid="grey"]').textContent()).toBe('1')
    expect(reloads).toBe(0)
    expect(seenAfterMs).toBeLessThan(2000)
    expect([...inbox.errors, ...counters.errors]).toEqual([])
    await context.close()
  })

  it('resets a counter only after its confirmation', async () => {
    await customerWrites(52, 'Hello?')
    const context = await browser.newContext()
    const { page, errors } = await watchedPage(context)
    await signIn(page, svc.url, KEYS.acmeAdmin)
    await page.goto(`${svc.url}/console/#/counters`)
    const red = page.locator('tr[data-user="anna"] [data-testid="red"]')
    await expect.poll(() => red.textContent()).not.toBe('0')
    const before = await red.textContent()

    await page.getByRole('button', { name: 'Reset anna' }).click()
    const dialog = page.getByRole('dialog')
    expect(await dialog.textContent()).toContain('Reset the unanswered counters of every chat anna owns?')
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await dialog.waitFor({ state: 'hidden' })
    expect(await red.textContent()).toBe(before)
    const api = await svc.call('GET', '/v1/counters/unanswered/anna', KEYS.acmeAdmin)
    expect((api.body as { data: { red: number } }).data.red).toBe(Number(before))

    await page.getByRole('button', { name: 'Reset anna' }).click()
    await dialog.getByRole('button', { name: 'Reset' }).click()
    await page.locator('tr[data-user="anna"] [data-testid="red"]:text-is("0")').waitFor({ timeout: 2000 })
    expect(await page.getByRole('status').filter({ hasText: 'reset' }).textContent()).toMatch(/Anna|anna/)
    const after = await svc.call('GET', '/v1/counters/unanswered/anna', KEYS.acmeAdmin)
    expect((after.body as { data: { red: number } }).data.red).toBe(0)
    expect(errors).toEqual([])
    await context.close()
  })

  it('sets a reminder from the inbox that the API then shows', async () => {
    await customerWrites(53, 'Call me back tomorrow')
    const context = await browser.newContext()
    const { page, errors } = await watchedPage(context)
    await signIn(page, svc.url, KEYS.acmeAdmin)
    await page.goto(`${svc.url}/console/#/inbox/acme-sales`)
    const row = page.locator(`tr[data-chat="${pn(53)}"]`)
    await row.waitFor()
    await row.getByLabel('Remind me about Customer 53 in').selectOption('2h')
    const clicked = Date.now()
    await row.getByRole('button', { name: 'Remind me about Customer 53' }).click()
    await row.getByTestId('reminder').filter({ hasText: 'scheduled' }).waitFor({ timeout: 2000 })

    const res = await svc.call('GET', `/v1/sessions/acme-sales/chats/${pn(53)}/reminders`, KEYS.acmeAdmin)
    const items = (res.body as { items: Array<{ status: string; dueAt: string }> }).items
    expect(items).toHaveLength(1)
    expect(items[0]!.status).toBe('scheduled')
    const due = Date.parse(items[0]!.dueAt) - clicked
    // Two hours from the server's "now" when the click arrived.
    expect(due).toBeGreaterThanOrEqual(2 * 3600_000)
    expect(due).toBeLessThan(2 * 3600_000 + 30_000)
    expect(errors).toEqual([])
    await context.close()
  })

  it('marks a chat read and as needing no reply from the inbox', async () => {
    await customerWrites(54, 'Thanks, that is all')
    const context = await browser.newContext()
    const { page, errors } = await watchedPage(context)
    await signIn(page, svc.url, KEYS.acmeAdmin)
    await page.goto(`${svc.url}/console/#/inbox/acme-sales`)
    const row = page.locator(`tr[data-chat="${pn(54)}"]`)
    await row.waitFor()
    await row.getByRole('button', { name: 'No reply needed: Customer 54' }).click()
    await row.locator('[data-testid="unanswered"]:text-is("0")').waitFor({ timeout: 2000 })
    await row.getByRole('button', { name: 'Mark read: Customer 54' }).click()
    await row.locator('[data-testid="unread"]:text-is("0")').waitFor({ timeout: 2000 })
    const chat = await svc.call('GET', `/v1/sessions/acme-sales/chats/${pn(54)}`, KEYS.acmeAdmin)
    expect(chat.body).toMatchObject({ unanswered: 0, unreadCount: 0 })
    expect(errors).toEqual([])
    await context.close()
  })
})
