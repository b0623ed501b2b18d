import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Spawned {
  child: ChildProcess
  stdout: string[]
  stderr: string[]
  /** Resolves with the first stdout/stderr line matching, rejects on exit or timeout. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>
  exited: Promise<number | null>
}

/**
 * Runs a TypeScript entry point of this project as a real process (node --import tsx). `cwd` runs it
 * from another checkout instead (the e2e benchmark runs an older revision's workers).
 */
export function spawnTs(
  entry: string,
  args: string[],
  env: Record<string, string>,
  cwd: string = ROOT,
): Spawned {
  return spawnCommand(process.execPath, ['--import', 'tsx', entry, ...args], env, cwd)
}

/** Runs any command as a real process (`npm start`, `node dist/...`) with a small, explicit environment. */
export function spawnCommand(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd: string = ROOT,
): Spawned {
  const child = spawn(command, args, {
    cwd,
    // A free port for the metrics listener unless the test names one: parallel services must not clash.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: string[] = []
  const stderr: string[] = []
  const waiters: Array<{ pattern: RegExp; resolve: (l: string) => void }> = []
  const feed = (into: string[]) => {
    let rest = ''
    return (chunk: Buffer) => {
      const parts = (rest + chunk.toString()).split('\n')
      rest = parts.pop() ?? ''
      for (const line of parts) {
        into.push(line)
        for (const w of [...waiters]) {
          if (w.pattern.test(line)) {
            waiters.splice(waiters.indexOf(w), 1)
            w.resolve(line)
          }
        }
      }
    }
  }
  child.stdout!.on('data', feed(stdout))
  child.stderr!.on('data', feed(stderr))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    stdout,
    stderr,
    exited,
    waitFor(pattern, timeoutMs = 15_000) {
      const seen = [...stdout, ...stderr].find((l) => pattern.test(l))
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${pattern}\n${[...stdout, ...stderr].join('\n')}`)),
          timeoutMs,
        )
        waiters.push({
          pattern,
          resolve: (l) => {
            clearTimeout(timer)
            resolve(l)
          },
        })
        void exited.then((code) => {
          clearTimeout(timer)
          reject(
            new Error(`process exited (${code}) before ${pattern}\n${[...stdout, ...stderr].join('\n')}`),
          )
        })
      })
    },
  }
}

/** Starts a real `worker` process of the service on the sim transport, with its own rules and key prefix. */
export function spawnWorker(rulesPath: string, prefix: string): Spawned {
  return spawnTs('src/main.ts', ['worker'], {
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    TICKBRIDGE_RULES: rulesPath,
    TICKBRIDGE_PREFIX: prefix,
    WA_TRANSPORT: 'sim',
    LOG_LEVEL: 'info',
  })
}
