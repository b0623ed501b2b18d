import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js'

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

/** A contact's own country, when it names one as an ISO code (HubSpot's `hs_country_region_code`, `country`). */
export function contactRegion(props: Record<string, string | null | undefined>): CountryCode | undefined {
  for (const name of ['hs_country_region_code', 'country']) {
    const v = (props[name] ?? '').trim().toUpperCase()
    if (/^[A-Z]{2}$/.test(v)) return v as CountryCode
  }
  return undefined
}

/**
 * Whether a contact's stored numbers are `digits` (E.164 without +): each stored value is parsed with
 * libphonenumber in the contact's country, else the org's default region, and compared as E.164. Raw
 * digit comparison would miss `0151 2222 3333` and `+49 (0) 151...`, and the national digits alone
 * collide across countries.
 */
export function storedNumberMatches(
  props: Record<string, string | null | undefined>,
  digits: string,
  defaultRegion: string | undefined,
): boolean {
  const region = contactRegion(props) ?? (defaultRegion as CountryCode | undefined)
  const wanted = `+${digits}`
  return PHONE_PROPERTIES.some((name) => {
    const raw = props[name]
    if (!raw) return false
    // All the digits including the country code, without + (a number pasted from an export): unambiguous.
    if (raw.replace(/\D/g, '') === digits && !/^\s*0/.test(raw)) return true
    const parsed = parsePhoneNumberFromString(raw, region)
    return parsed?.number === wanted
  })
}
