import { type DestinationStream, type Logger, pino } from 'pino'

/**
 * Paths pino censors wherever they appear in a log object. Bearer keys and HubSpot tokens must never
 * reach a log, whatever object carries them.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-hubspot-signature-v3"]',
  'headers.authorization',
  'authorization',
  'accessToken',
  '*.accessToken',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'HUBSPOT_ACCESS_TOKEN',
  '*.HUBSPOT_ACCESS_TOKEN',
  'HUBSPOT_APP_SECRET',
  '*.HUBSPOT_APP_SECRET',
  'creds',
  '*.creds',
]

export function createLogger(
  options: { level: string; name?: string },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: options.name ?? 'tickbridge',
      level: options.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination,
  )
}

export type { Logger }
