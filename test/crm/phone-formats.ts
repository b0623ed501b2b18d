/** Ten ways a user types the German mobile number 0151 <8 digits>. */
export const FORMATS: Array<(n: string) => Record<string, string>> = [
  (n) => ({ phone: `0151 ${n.slice(0, 4)} ${n.slice(4)}` }), // local, spaces
  (n) => ({ phone: `0151${n}` }), // national, no spaces
  (n) => ({ phone: `+49151${n}` }), // E.164
  (n) => ({ phone: `+49 151 ${n.slice(0, 4)} ${n.slice(4)}` }), // E.164 with spaces
  (n) => ({ phone: `+49 (0) 151 ${n}` }), // with the trunk 0 in brackets
  (n) => ({ phone: `(0151) ${n.slice(0, 4)} ${n.slice(4)}` }), // brackets around the area code
  (n) => ({ phone: `0049 151 ${n}` }), // international prefix 00
  (n) => ({ phone: `0151-${n.slice(0, 4)}-${n.slice(4)}` }), // dashes
  (n) => ({ phone: `+49-151-${n.slice(0, 4)}-${n.slice(4)}` }), // E.164 with dashes
  (n) => ({ mobilephone: `0151 ${n}` }), // mobile field only
]
