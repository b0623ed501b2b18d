import { createRequire } from 'node:module'
import { type DestinationStream, type Logger, pino, type TransportSingleOptions } from 'pino'

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

export type LogFormat = 'json' | 'pretty'

/** LOG_FORMAT if set; else pretty on a terminal and JSON lines everywhere else (files, pipes, containers). */
export function resolveLogFormat(configured: LogFormat | undefined, isTty: boolean | undefined): LogFormat {
  return configured ?? (isTty ? 'pretty' : 'json')
}

/**
 * pino-pretty in a worker thread (pino's transport), so formatting never slows the service: level names,
 * local time of day, no pid/hostname noise. pino flushes the thread on process exit.
 */
function prettyTransport(): TransportSingleOptions | null {
  try {
    createRequire(import.meta.url).resolve('pino-pretty')
  } catch {
    return null // an install without it logs JSON rather than failing to start
  }
  return {
    target: 'pino-pretty',
    options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', singleLine: true },
  }
}

export function createLogger(
  options: { level: string; name?: string; format?: LogFormat },
  destination?: DestinationStream,
): Logger {
  const base = {
    name: options.name ?? 'tickbridge',
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  }
  const pretty = !destination && options.format === 'pretty' ? prettyTransport() : null
  if (pretty) return pino({ ...base, transport: pretty })
  return pino(base, destination)
}

export type { Logger }
