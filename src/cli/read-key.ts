/**
 * Reads an API key for `tickbridge key hash`. From a pipe (`printf %s "$KEY" | tickbridge key hash`) it
 * takes all of stdin. On a terminal it prompts on stderr and reads one line with echo off (raw mode), so
 * the key never shows on the screen nor stays in the scrollback.
 */
export async function readKey(
  stdin: NodeJS.ReadStream = process.stdin,
  prompt: (text: string) => void = (text) => process.stderr.write(text),
): Promise<string | null> {
  if (!stdin.isTTY) {
    const chunks: Buffer[] = []
    for await (const chunk of stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString().trim()
  }
  // Echo off before the prompt shows: a key typed (or pasted) the moment the prompt appears must not
  // reach the terminal's echo.
  stdin.setRawMode(true)
  stdin.resume()
  prompt('API key (input hidden): ')
  let key = ''
  try {
    return await new Promise<string | null>((resolve) => {
      const onData = (data: Buffer) => {
        for (const ch of data.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.off('data', onData)
            return resolve(key.trim())
          }
          if (ch === '\u0003') {
            stdin.off('data', onData)
            return resolve(null) // Ctrl-C
          }
          if (ch === '\u007f' || ch === '\b') key = key.slice(0, -1)
          else if (ch >= ' ') key += ch
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
    prompt('\n')
  }
}
