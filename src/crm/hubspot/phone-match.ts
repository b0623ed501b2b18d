import countries from 'i18n-iso-countries'
import { type CountryCode, isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js'

/** The contact properties that may hold a customer's number, as a user typed them. */
export const PHONE_PROPERTIES = ['phone', 'mobilephone', 'hs_whatsapp_phone_number'] as const
/** HubSpot's computed "area code + local number, no country code" forms of `phone` and `mobilephone`. */
export const SEARCHABLE_PROPERTIES = [
  'hs_searchable_calculated_phone_number',
  'hs_searchable_calculated_mobile_number',
] as const
/** What a lookup asks HubSpot for: the numbers, the contact's country, and its owner (read at match). */
export const LOOKUP_PROPERTIES = [
  ...PHONE_PROPERTIES,
  ...SEARCHABLE_PROPERTIES,
  'country',
  'hs_country_region_code',
  'hubspot_owner_id',
]

/** The national significant number of an E.164 number (digits without +): what HubSpot's searchable props hold. */
export function nationalDigits(digits: string): string | null {
  const parsed = parsePhoneNumberFromString(`+${digits}`)
  return parsed?.nationalNumber ? String(parsed.nationalNumber) : null
}

/**
 * Country names as people type them into HubSpot's free-text `country` ("Germany", "United States",
 * "USA", "Deutschland"), from i18n-iso-countries (CLDR-based names and common aliases in 78 languages),
 * English first. Built once, on first use.
 */
let countryNames: Map<string, CountryCode> | null = null

const normalise = (name: string) =>
  name
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .replace(/[.\s]+/g, ' ')
    .trim()
    .toLowerCase()

function countryOfName(name: string): CountryCode | undefined {
  if (!countryNames) {
    countryNames = new Map()
    for (const lang of ['en', ...countries.langs().filter((l) => l !== 'en')]) {
      for (const [code, names] of Object.entries(countries.getNames(lang, { select: 'all' }))) {
        if (!isSupportedCountry(code)) continue
        for (const n of names) {
          const key = normalise(n)
          if (!countryNames.has(key)) countryNames.set(key, code as CountryCode)
        }
      }
    }
  }
  return countryNames.get(normalise(name))
}

/**
 * A contact's own country: HubSpot's `hs_country_region_code`, else its free-text `country`, as an ISO
 * code ("de") or a name in any common language ("Germany", "United States").
 */
export function contactRegion(props: Record<string, string | null | undefined>): CountryCode | undefined {
  for (const name of ['hs_country_region_code', 'country']) {
    const v = (props[name] ?? '').trim()
    if (!v) continue
    if (/^[A-Za-z]{2}$/.test(v) && isSupportedCountry(v.toUpperCase())) return v.toUpperCase() as CountryCode
    const named = countryOfName(v)
    if (named) return named
  }
  return undefined
}

/** The country of the customer's own (WhatsApp) number, E.164 digits without +. */
export function regionOfNumber(digits: string): CountryCode | undefined {
  return parsePhoneNumberFromString(`+${digits}`)?.country
}

/**
 * Whether a contact's stored numbers are `digits` (E.164 without +): each stored value is parsed with
 * libphonenumber in the contact's country; when the contact names none, in the org's default region
 * and in the region of the customer's own WhatsApp number (a number typed without country code is
 * most likely local to the customer). Compared as E.164. Raw digit comparison would miss
 * `0151 2222 3333` and `+49 (0) 151...`, and the national digits alone collide across countries.
 */
export function storedNumberMatches(
  props: Record<string, string | null | undefined>,
  digits: string,
  defaultRegion: string | undefined,
): boolean {
  const own = contactRegion(props)
  // With no region at all, only numbers written with their country code (+, 00...) can be read.
  const guesses = [...new Set([defaultRegion as CountryCode | undefined, regionOfNumber(digits)])]
  const regions = own ? [own] : guesses.some(Boolean) ? guesses.filter(Boolean) : [undefined]
  const wanted = `+${digits}`
  return PHONE_PROPERTIES.some((name) => {
    const raw = props[name]
    if (!raw) return false
    // All the digits including the country code, without + (a number pasted from an export): unambiguous.
    if (raw.replace(/\D/g, '') === digits && !/^\s*0/.test(raw)) return true
    return regions.some((region) => parsePhoneNumberFromString(raw, region)?.number === wanted)
  })
}
