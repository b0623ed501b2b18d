import { describe, expect, it } from 'vitest'
import { nationalDigits, storedNumberMatches } from '../../src/crm/hubspot/phone-match.js'

describe('storedNumberMatches (pure)', () => {
  it.each([
    [{ phone: '0151 2222 3333' }, 'DE', true],
    [{ phone: '0151 2222 3333' }, undefined, true], // no country known: read in the region of the WhatsApp number
    [{ phone: '0151 2222 3333', country: 'Germany' }, undefined, true], // a country name (#25 fault 2)
    [{ phone: '0151 2222 3333', country: 'Deutschland' }, 'US', true],
    [{ phone: '0151 2222 3333', country: 'Austria' }, 'DE', false], // a named country wins too
    [{ phone: '0151 2222 3333', country: 'Planet Mars' }, undefined, true], // unusable: the WhatsApp number's region
    [{ phone: '0151 2222 3333', hs_country_region_code: 'de' }, undefined, true],
    [{ phone: '0151 2222 3333', country: 'AT' }, 'DE', false], // the contact's country wins
    [{ mobilephone: '+49 (0) 151 2222 3333' }, undefined, true],
    [{ hs_whatsapp_phone_number: '4915122223333' }, 'US', true], // all digits, no +
    [{ phone: '0049 151 2222 3333' }, 'DE', true],
    [{ phone: '+49 151 2222 3334' }, 'DE', false],
  ])('%o in %s', (props, region, expected) => {
    expect(storedNumberMatches(props, '4915122223333', region)).toBe(expected)
  })

  it('a US number typed without country code, contact in "United States" or with no country', () => {
    expect(
      storedNumberMatches({ phone: '(415) 201-3344', country: 'United States' }, '14152013344', 'DE'),
    ).toBe(true)
    expect(storedNumberMatches({ phone: '(415) 201-3344' }, '14152013344', undefined)).toBe(true)
    expect(storedNumberMatches({ phone: '(415) 201-3344', country: 'USA' }, '4915122223333', 'DE')).toBe(
      false,
    )
  })

  it('national digits of an E.164 number', () => {
    expect(nationalDigits('4915122223333')).toBe('15122223333')
    expect(nationalDigits('14152013344')).toBe('4152013344')
  })
})
