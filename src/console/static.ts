import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * The console's browser files, read once at start: our own (./web/) and the two libraries' ES modules
 * straight from node_modules (no bundler, no CDN). Only these names are served; nothing is looked up
 * on disk from a request's path.
 */

export interface StaticFile {
  body: Buffer
  type: string
  etag: string
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
}

/** Our files under ./web/, by the name the pages use. */
const OWN = ['index.html', 'pair.html', 'app.js', 'api.js', 'pages.js', 'pair.js', 'style.css', 'icon.svg']

/** The libraries, by the name the import map gives them (see index.html). */
const VENDOR: Record<string, string> = {
  'preact.mjs': 'preact',
  'hooks.mjs': 'preact/hooks',
  'htm.mjs': 'htm',
}

function file(path: string): StaticFile {
  const body = readFileSync(path)
  const ext = path.slice(path.lastIndexOf('.') + 1)
  return {
    body,
    type: TYPES[ext] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  }
}

export function loadConsoleFiles(): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>()
  for (const name of OWN) files.set(name, file(fileURLToPath(new URL(`./web/${name}`, import.meta.url))))
  for (const [name, specifier] of Object.entries(VENDOR))
    files.set(`vendor/${name}`, file(fileURLToPath(import.meta.resolve(specifier))))
  return files
}

/** The import map inline in the pages, and its hash for the Content-Security-Policy. */
export function inlineScriptHashes(html: string): string[] {
  const hashes: string[] = []
  for (const m of html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g))
    hashes.push(`'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`)
  return hashes
}
