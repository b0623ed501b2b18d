// One client's WebSocket as the server sees it: framing (./framing.ts), the Noise handshake
// (./noise-server.ts), then binary nodes encoded/decoded with Baileys' own `WABinary`
// (`encodeBinaryNode` / `decodeBinaryNode`, as `Socket/socket` `sendNode` and `noise-handler`
// `processData` use them).
import {
  type BinaryNode,
  decodeBinaryNode,
  encodeBinaryNode,
  type KeyPair,
  proto,
} from '@whiskeysockets/baileys'
import type { WebSocket } from 'ws'
import { ClientFrameReader, encodeServerFrame } from './framing.js'
import { ServerNoise } from './noise-server.js'

export interface WireHandlers {
  /** The handshake is done: the client's noise key (its `creds.noiseKey.public`) and its `ClientPayload`. */
  onLogin(wire: Wire, payload: proto.ClientPayload, clientNoiseKey: Buffer): void
  onNode(wire: Wire, node: BinaryNode): void
  onClose(wire: Wire): void
  /** A frame the box could not handle (the socket is dropped, as a server would). */
  onError(wire: Wire, err: unknown): void
}

let nextWireId = 1

export class Wire {
  readonly id = nextWireId++
  private readonly reader = new ClientFrameReader()
  private readonly noise: ServerNoise
  private stage: 'hello' | 'finish' | 'transport' = 'hello'
  /** A chain of node handlers: frames are handled in order, as the client sent them. */
  private inbound: Promise<void> = Promise.resolve()
  closed = false

  constructor(
    private readonly ws: WebSocket,
    serverStatic: KeyPair,
    certChain: Uint8Array,
    private readonly handlers: WireHandlers,
  ) {
    this.noise = new ServerNoise(serverStatic, certChain)
    ws.on('message', (data: Buffer) => this.onData(data))
    ws.on('close', () => {
      this.closed = true
      handlers.onClose(this)
    })
    ws.on('error', () => {})
  }

  send(node: BinaryNode): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return
    this.ws.send(encodeServerFrame(this.noise.encryptFrame(encodeBinaryNode(node))))
  }

  /** Closes the WebSocket; Baileys sees 'close' and ends with 428 unless a stanza ended it first. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.ws.close()
  }

  /** Drops the TCP connection without a close frame (a network loss). */
  terminate(): void {
    this.closed = true
    this.ws.terminate()
  }

  private onData(data: Buffer) {
    let frames: Buffer[]
    try {
      frames = this.reader.push(data)
    } catch {
      this.terminate()
      return
    }
    for (const frame of frames) this.onFrame(frame)
  }

  private onFrame(frame: Buffer) {
    if (this.stage === 'hello') {
      // `Socket/socket` `validateConnection`: HandshakeMessage { clientHello: { ephemeral } }
      const { clientHello } = proto.HandshakeMessage.decode(frame)
      if (!clientHello?.ephemeral || !this.reader.noiseHeader) return this.terminate()
      const serverHello = this.noise.serverHello(this.reader.noiseHeader, clientHello.ephemeral)
      this.ws.send(encodeServerFrame(proto.HandshakeMessage.encode({ serverHello }).finish()))
      this.stage = 'finish'
      return
    }
    if (this.stage === 'finish') {
      // `validateConnection`: HandshakeMessage { clientFinish: { static, payload } }, then `finishInit`
      const { clientFinish } = proto.HandshakeMessage.decode(frame)
      try {
        const { clientStatic, payload } = this.noise.clientFinish(clientFinish ?? {})
        this.stage = 'transport'
        this.handlers.onLogin(this, proto.ClientPayload.decode(payload), clientStatic)
      } catch (err) {
        this.handlers.onError(this, err)
        this.terminate()
      }
      return
    }
    const plaintext = this.noise.decryptFrame(frame)
    this.inbound = this.inbound
      .then(async () => this.handlers.onNode(this, await decodeBinaryNode(plaintext)))
      .catch((err: unknown) => {
        this.handlers.onError(this, err)
        this.terminate()
      })
  }
}
