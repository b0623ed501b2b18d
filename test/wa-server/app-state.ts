// App state on the server: per account and collection, the encrypted patches in version order, exactly as
// the devices uploaded them. The server cannot read them (they are encrypted with the app-state key the
// phone shares); the box's phone can, and that is how `inspect` shows what the phone displays.
// Requests and answers as `Socket/chats` builds and reads them:
// - `resyncAppState`: <iq xmlns=w:sync:app:state type=set><sync><collection name version return_snapshot/>
//   → <sync><collection name version [has_more_patches]><patches><patch>SyncdPatch</patch>…</patches>
//   (`Utils/chat-utils` `extractSyncdPatches`). The box never answers with a snapshot: WhatsApp sends those
//   as an external blob to download from its media servers, which the box does not serve; from version 0
//   it returns every patch instead, which `decodePatches` applies the same way.
// - `appPatch` (`chatModify`): the same IQ with one <patch> in the collection at the version Baileys holds
//   (`state.version - 1`); the server appends it as the next version.
import {
  type BinaryNode,
  type ChatMutation,
  decodePatches,
  newLTHashState,
  proto,
  type WAPatchName,
} from '@whiskeysockets/baileys'
import type { Account } from './accounts.js'
import type { IqHandler } from './iq.js'
import { bytes, child, children, iqError, iqResult } from './stanzas.js'

export class AppStateServer {
  /** account phone → collection → encoded patches (index i holds version i + 1). Kept as bytes: Baileys'
   * `decodePatches` empties the `mutations` of the patch objects it is given. */
  private readonly store = new Map<string, Map<string, Buffer[]>>()

  /** Fresh decoded copies of a collection's patches. */
  patches(account: Account, name: string): proto.SyncdPatch[] {
    return this.encoded(account, name).map((b) => proto.SyncdPatch.decode(b))
  }

  private encoded(account: Account, name: string): Buffer[] {
    let byName = this.store.get(account.phone)
    if (!byName) {
      byName = new Map()
      this.store.set(account.phone, byName)
    }
    let list = byName.get(name)
    if (!list) {
      list = []
      byName.set(name, list)
    }
    return list
  }

  /** The current version of a collection (0 = nothing written yet). */
  version(account: Account, name: string): number {
    return this.encoded(account, name).length
  }

  readonly iqHandler: IqHandler = (ctx, iq) => {
    if (iq.attrs.xmlns !== 'w:sync:app:state') return undefined
    const account = ctx.device.account
    const answers: BinaryNode[] = []
    for (const collection of children(child(iq, 'sync'))) {
      const name = collection.attrs.name ?? ''
      const list = this.encoded(account, name)
      const patchNode = child(collection, 'patch')
      const patchBytes = bytes(patchNode)
      if (patchBytes) {
        // an upload must build on the latest version, or WhatsApp refuses it (409 conflict)
        if (Number(collection.attrs.version) !== list.length) return iqError(iq, 409, 'conflict')
        const patch = proto.SyncdPatch.decode(patchBytes)
        patch.version = { version: list.length + 1 }
        list.push(Buffer.from(proto.SyncdPatch.encode(patch).finish()))
        answers.push({ tag: 'collection', attrs: { name, version: String(list.length) } })
        continue
      }
      const from = Number(collection.attrs.version ?? 0)
      const newer = list.slice(from)
      answers.push({
        tag: 'collection',
        attrs: { name, version: String(list.length) },
        content: [
          {
            tag: 'patches',
            attrs: {},
            content: newer.map((p) => ({ tag: 'patch', attrs: {}, content: p })),
          },
        ],
      })
    }
    return iqResult(iq, [{ tag: 'sync', attrs: {}, content: answers }])
  }

  /** Every mutation of a collection, decoded with the phone's keys (Baileys' own `decodePatches`). */
  async mutations(
    account: Account,
    name: WAPatchName,
    keys: Map<string, proto.Message.IAppStateSyncKeyData>,
  ): Promise<ChatMutation[]> {
    const list = this.patches(account, name)
    if (!list.length) return []
    const { mutationMap } = await decodePatches(
      name,
      list,
      newLTHashState(),
      async (id) => keys.get(id) ?? undefined,
      {},
    )
    return Object.values(mutationMap)
  }
}
