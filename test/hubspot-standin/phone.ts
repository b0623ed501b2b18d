import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js'

/**
 * HubSpot's `hs_searchable_calculated_phone_number` / `hs_searchable_calculated_mobile_number`: "the
 * phone number without the country code" (area code + local number), computed from whatever the user
 * typed in `phone` / `mobilephone`. HubSpot's search guide
 * (https://developers.hubspot.com/docs/guides/api/crm/search#search-by-phone-number, and the
 * knowledge-base page "Format phone numbers", https://knowledge.hubspot.com/properties/format-phone-numbers)
 * describes the value; HubSpot interprets a number typed without `+` in the contact's country, else the
 * account's default country. Modelled with libphonenumber (Google's library, which HubSpot's own number
 * formatting follows): `0151 2222 3333`, `+49 (0) 151 2222 3333` and `0049 151 2222 3333` (DE) all give
 * `15122223333`; `(415) 201-3344` and `+1 415-201-3344` give `4152013344`.
 * A number libphonenumber cannot read keeps its digits without leading zeros (HubSpot still indexes it).
 */
export function searchableDigits(phone: string, defaultCountry: CountryCode = 'US'): string {
  const parsed = parsePhoneNumberFromString(phone, defaultCountry)
  if (parsed?.nationalNumber) return String(parsed.nationalNumber)
  return phone.replace(/\D/g, '').replace(/^0+/, '')
}

/** The ISO country a contact's numbers are read in: its `country` property when that is a 2-letter code. */
export function contactCountry(
  properties: Record<string, string | null | undefined>,
  fallback: CountryCode,
): CountryCode {
  const raw = (properties.hs_country_region_code ?? properties.country ?? '').trim().toUpperCase()
  return /^[A-Z]{2}$/.test(raw) ? (raw as CountryCode) : fallback
}
