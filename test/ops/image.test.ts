import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, relative } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { parseDocument } from 'yaml'
import { sha256Hex } from '../../src/http/auth.js'
import { ROOT, type Spawned, spawnCommand } from '../helpers/process.js'
import { deleteByPrefix, REDIS_URL } from '../helpers/redis.js'

/**
 * This machine has no Docker engine, so this test performs the Dockerfile's own instructions, read from
 * the file, in a clean temporary folder: each stage gets a folder of its own (its `/app`), COPY copies from
 * the build context (the project without what .dockerignore excludes) or from an earlier stage, RUN runs
 * in the stage's WORKDIR with its ENV, and the last stage's CMD is started and its HEALTHCHECK asked.
 * What it cannot reproduce: the base image itself (it runs on this machine's Node, which CI keeps at the
 * version package.json asks for) and USER (checked to be non-root, not switched to).
 */

const run = promisify(execFile)

interface Instruction {
  op: string
  args: string
}

interface Stage {
  name: string
  from: string
  steps: Instruction[]
}

function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  const stages: Stage[] = []
  for (const line of lines) {
    const [, op, args] = /^(\w+)\s+(.*)$/.exec(line) ?? []
    if (!op || args === undefined) throw new Error(`cannot read Dockerfile line: ${line}`)
    if (op.toUpperCase() === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? []
      stages.push({ name: name ?? String(stages.length), from: from!, steps: [] })
    } else stages.at(-1)!.steps.push({ op: op.toUpperCase(), args })
  }
  return stages
}

/** ENV k=v k2=v2 (no quoting needed in ours). */
const parseEnvArgs = (args: string) =>
  Object.fromEntries(args.split(/\s+/).map((kv) => kv.split('=', 2) as [string, string]))

/** An exec-form JSON array after optional --flags (HEALTHCHECK's CMD, CMD). */
const execForm = (args: string): string[] => JSON.parse(args.slice(args.indexOf('['))) as string[]

async function dockerIgnore(): Promise<string[]> {
  const text = await readFile(join(ROOT, '.dockerignore'), 'utf8')
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
}

function ignored(path: string, patterns: string[]): boolean {
  const rel = relative(ROOT, path)
  return patterns.some((p) =>
    p.startsWith('*.') ? rel.endsWith(p.slice(1)) : rel === p || rel.startsWith(`${p}/`),
  )
}

const prefix = `tbt-image-${randomBytes(4).toString('hex')}`
let workspace = ''
let service: Spawned | null = null
afterAll(async () => {
  if (service && service.child.exitCode === null) service.child.kill('SIGKILL')
  if (workspace) await rm(workspace, { recursive: true, force: true })
  const r = new Redis(REDIS_URL)
  await deleteByPrefix(r, prefix)
  r.disconnect()
})

describe('the production image (Dockerfile steps, performed without Docker)', () => {
  it('builds in a clean folder, installs production dependencies only, starts from dist/ and answers /readyz and its HEALTHCHECK', async () => {
    const stages = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8'))
    expect(stages.length).toBeGreaterThanOrEqual(2) // multi-stage
    const patterns = await dockerIgnore()
    workspace = await mkdtemp(join(tmpdir(), 'tb-image-'))
    const stageDirs = new Map<string, string>()
    let healthcheck: string[] = []
    let cmd: string[] = []
    let env: Record<string, string> = {}
    let user = 'root'

    for (const stage of stages) {
      const root = join(workspace, stage.name)
      await mkdir(root, { recursive: true })
      stageDirs.set(stage.name, root)
      let workdir = root
      env = {}
      user = 'root'
      for (const { op, args } of stage.steps) {
        if (op === 'WORKDIR') {
          workdir = join(root, args)
          await mkdir(workdir, { recursive: true })
        } else if (op === 'ENV') env = { ...env, ...parseEnvArgs(args) }
        else if (op === 'COPY') {
          const parts = args.split(/\s+/)
          const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length)
          const paths = parts.filter((p) => !p.startsWith('--'))
          const dest = paths.pop()!
          for (const src of paths) {
            // Every stage's WORKDIR is /app: an absolute source in another stage maps into its folder.
            const source = from
              ? join(stageDirs.get(from)!, src.replace(/^\/app\/?/, 'app/'))
              : join(ROOT, src)
            const isDir = (await stat(source)).isDirectory()
            // Docker puts a file copied into a folder (`dest/`) there under its own name.
            const target =
              dest.endsWith('/') && !isDir ? join(workdir, dest, basename(src)) : join(workdir, dest)
            await cp(source, target, {
              recursive: true,
              filter: (p) => Boolean(from) || !ignored(p, patterns),
            })
          }
        } else if (op === 'RUN') {
          // The npm cache of this machine stands in for the registry the image build would reach.
          const command = args.replace(/\bnpm ci\b/g, 'npm ci --prefer-offline')
          await run('sh', ['-c', command], {
            cwd: workdir,
            env: { ...process.env, ...env },
            maxBuffer: 16 * 1024 * 1024,
          }).catch((err: { stdout?: string; stderr?: string }) => {
            throw new Error(`RUN ${command} failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`)
          })
        } else if (op === 'USER') user = args
        else if (op === 'HEALTHCHECK') healthcheck = execForm(args)
        else if (op === 'CMD') cmd = execForm(args)
        else if (op !== 'EXPOSE') throw new Error(`the image test does not know ${op}: teach it`)
      }
      stageDirs.set(stage.name, root)
    }

    const app = join(stageDirs.get(stages.at(-1)!.name)!, 'app')
    expect(user).not.toMatch(/^(root|0)$/)
    expect(cmd[0]).toBe('node')
    expect(cmd[1]).toMatch(/^dist\//)
    // Production dependencies only: no test runner, linter or TypeScript runner in the image. (TypeScript
    // itself does come along: @bull-board/api's valibot lists it as a peer dependency.)
    for (const dev of ['vitest', '@biomejs/biome', 'tsx'])
      await expect(stat(join(app, 'node_modules', dev))).rejects.toThrow()
    await expect(stat(join(app, 'src'))).rejects.toThrow() // compiled code only
    await expect(stat(join(app, 'test'))).rejects.toThrow()
    // Of config/, only the example and its documentation: no other local rules file (another install's
    // keys) rides along into the image.
    expect((await readdir(join(app, 'config'))).sort()).toEqual(['README.md', 'rules.example.yaml'])

    // The compose set-up: config/rules.yaml with a key of the operator's own (the image refuses to listen
    // beyond loopback on the published example keys).
    const rules = parseDocument(await readFile(join(app, 'config', 'rules.example.yaml'), 'utf8'))
    const key = `tb_${randomBytes(24).toString('hex')}`
    rules.set('apiKeys', [
      { id: 'ops', org: 'acme', sha256: sha256Hex(key), capabilities: ['read', 'admin'] },
    ])
    await writeFile(join(app, 'config', 'rules.yaml'), rules.toString())

    // The installed bin: npm links node_modules/.bin/tickbridge to package.json's bin entry for whoever
    // installs the package; the link runs the file itself, so it needs its #! line and execute bit.
    const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as {
      bin: Record<string, string>
    }
    await mkdir(join(app, 'node_modules', '.bin'), { recursive: true })
    await symlink(join('..', '..', pkg.bin.tickbridge!), join(app, 'node_modules', '.bin', 'tickbridge'))
    const bin = join(app, 'node_modules', '.bin', 'tickbridge')
    expect((await run(bin, ['--version'], { cwd: app })).stdout.trim()).toBe(
      (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    )
    const checked = await run(bin, ['rules', 'check'], { cwd: app, env: { ...process.env, ...env } })
    expect(checked.stdout).toMatch(/^OK: config\/rules\.yaml \(/)

    const port = String(20_000 + Math.floor(Math.random() * 10_000))
    service = spawnCommand(
      cmd[0]!,
      cmd.slice(1),
      { ...env, REDIS_URL, TICKBRIDGE_PREFIX: prefix, PORT: port, TICKBRIDGE_RULES: 'config/rules.yaml' },
      app,
    )
    await service.waitFor(/HTTP API listening/, 30_000)
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
    expect(ready.status).toBe(200)
    const sessions = await fetch(`http://127.0.0.1:${port}/v1/sessions`, {
      headers: { authorization: `Bearer ${key}` },
    })
    expect(sessions.status).toBe(200)

    const probe = await run(healthcheck[0]!, healthcheck.slice(1), { cwd: app, env: { ...env, PORT: port } })
      .then(() => 0)
      .catch((err: { code?: number }) => err.code ?? 1)
    expect(probe).toBe(0)

    service.child.kill('SIGTERM')
    expect(await service.exited).toBe(0)
    const probeAfter = await run(healthcheck[0]!, healthcheck.slice(1), {
      cwd: app,
      env: { ...env, PORT: port },
    })
      .then(() => 0)
      .catch((err: { code?: number }) => err.code ?? 1)
    expect(probeAfter).toBe(1) // the HEALTHCHECK can fail, so its pass above means something
  }, 240_000)
})
