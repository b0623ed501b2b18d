import type { UserFacingSocketConfig } from '@whiskeysockets/baileys'
import { timestampMs } from './normalise.js'

type ILogger = NonNullable<UserFacingSocketConfig['logger']>

/**
 * When a chat was read on another device, as that device said. Baileys turns an app-state
 * `markChatAsReadAction` into `chats.update { unreadCount: 0 }` and drops the action itself
 * (Utils/chat-utils `processSyncAction`), including `messageRange.lastMessageTimestamp`: the newest message
 * the phone had when it was marked read. A read made while we were offline reaches us at our reconnect,
 * so "now" would also cover the messages that arrived after it. `processSyncAction` logs the whole action
 * at trace (`logger.trace({ syncAction, initialSync }, 'processing sync action')`) on the socket's own
 * logger (Socket/chats passes `config.logger`), synchronously right before it emits the update: the
 * logger we give the socket hands it to us, whatever the log level.
 */

export interface ReadAction {
  chatJid: string
  /** Epoch ms: the read covers the chat up to here. */
  at: number
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

/** The chat and instant of a `markChatAsReadAction` with `read: true` in a traced sync action. */
export function readActionOf(traced: unknown): ReadAction | undefined {
  if (!isObject(traced) || !isObject(traced.syncAction)) return undefined
  const { index, syncAction } = traced.syncAction
  if (!Array.isArray(index) || index[0] !== 'markChatAsRead' || typeof index[1] !== 'string') return undefined
  const value = isObject(syncAction) && isObject(syncAction.value) ? syncAction.value : undefined
  const action = value && isObject(value.markChatAsReadAction) ? value.markChatAsReadAction : undefined
  if (action?.read !== true) return undefined
  const range = isObject(action.messageRange) ? action.messageRange : undefined
  // messageRange is in seconds (Utils/chat-utils getMessageRange); the action's own timestamp in ms.
  const at =
    timestampMs(range?.lastMessageTimestamp) ??
    timestampMs(range?.lastSystemMessageTimestamp) ??
    msOf(value?.timestamp)
  return at === undefined ? undefined : { chatJid: index[1], at }
}

/** Epoch ms as protobuf gives them (number, Long, numeric string) to a checked epoch ms. */
function msOf(v: unknown): number | undefined {
  const n =
    typeof v === 'number'
      ? v
      : typeof v === 'string' && /^\d+$/.test(v)
        ? Number(v)
        : isObject(v) && typeof v.toNumber === 'function'
          ? Number((v.toNumber as () => unknown).call(v))
          : undefined
  return n !== undefined && Number.isFinite(n) ? timestampMs(n / 1000) : undefined
}

/** A logger for the socket that reports every traced sync action, then logs as `log` would. */
export function tapSyncActions(log: ILogger, onAction: (traced: unknown) => void): ILogger {
  return {
    get level() {
      return log.level
    },
    set level(level: string) {
      log.level = level
    },
    child: (obj) => log.child(obj),
    trace: (obj, msg) => {
      if (msg === 'processing sync action') onAction(obj)
      log.trace(obj, msg)
    },
    debug: (obj, msg) => log.debug(obj, msg),
    info: (obj, msg) => log.info(obj, msg),
    warn: (obj, msg) => log.warn(obj, msg),
    error: (obj, msg) => log.error(obj, msg),
  }
}
