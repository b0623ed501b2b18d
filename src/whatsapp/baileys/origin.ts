import { normalizeMessageContent, type WAMessage } from '@whiskeysockets/baileys'
import type { MessageOrigin } from '../../domain/events.js'

/**
 * Who wrote one of our own (`fromMe`) messages, as far as a linked device can tell. WhatsApp does not say
 * which of our devices sent it (Utils/decode-wa-message `decodeMessageNode` keeps the sender device only
 * as `author`, not in the message), nor whether the WhatsApp Business app sent it automatically (no such
 * field in Baileys' proto). So, from the rules:
 * - `auto`: its text is one of the team's greeting/away message texts (`counters.automatedReplies.texts`);
 * - `bot`: its id starts with one of `counters.botMessageIdPrefixes` (the bot chooses its ids);
 * - otherwise undefined: the phone (a person), the default.
 */
export interface OriginRules {
  botMessageIdPrefixes: readonly string[]
  automatedTexts: readonly string[]
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim()

export function fromMeOriginBy(rules: () => OriginRules): (msg: WAMessage) => MessageOrigin | undefined {
  return (msg) => {
    const { botMessageIdPrefixes, automatedTexts } = rules()
    if (automatedTexts.length > 0) {
      const content = normalizeMessageContent(msg.message)
      const text = content?.conversation ?? content?.extendedTextMessage?.text
      if (typeof text === 'string' && automatedTexts.some((t) => squash(t) === squash(text))) return 'auto'
    }
    const id = msg.key?.id
    if (id && botMessageIdPrefixes.some((p) => id.startsWith(p))) return 'bot'
    return undefined
  }
}
