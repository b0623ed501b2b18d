import { describe, expect, it } from 'vitest'
import { phoneSearch, SEARCH_BODY_LIMIT, searchChunks } from '../../src/crm/hubspot/hubspot-crm.js'

/**
 * Issue 25, fault 11: a search body must stay within HubSpot's 3,000 characters (search guide,
 * "Limitations"); each search is sized by its encoded length, with room for its pages' `after`.
 */
describe('search size (fault 11)', () => {
  it('fifteen-digit numbers libphonenumber cannot place are split before the body passes 3,000', () => {
    const phones = Array.from({ length: 60 }, (_, i) => `99999999999${String(1000 + i)}`)
    const chunks = searchChunks(phones)
    expect(chunks.flat()).toEqual(phones)
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(25)
      expect(JSON.stringify(phoneSearch(chunk, '800')).length).toBeLessThanOrEqual(3000)
    }
    expect(SEARCH_BODY_LIMIT).toBeLessThan(3000)
  })

  it('ordinary numbers still go 25 to a search', () => {
    const phones = Array.from({ length: 50 }, (_, i) => `4915150${String(100_000 + i)}`)
    expect(searchChunks(phones).map((c) => c.length)).toEqual([25, 25])
  })
})
