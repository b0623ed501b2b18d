// WhatsApp's framing over the WebSocket, server side. Mirrors `Utils/noise-handler` `encodeFrame` /
// `decodeFrame` (client half): the client's FIRST frame is prefixed by an intro header (`NOISE_WA_HEADER`
// = 'W','A',6,DICT_VERSION, or 'E','D',0,1 + a 3-byte length + routing info + that header when
// `creds.routingInfo` is set); every frame, both ways, is a 3-byte big-endian length and the payload.
// The server sends no intro header (Baileys' `decodeFrame` expects none).

/** Splits the client's byte stream into frames; reports the Noise header the client authenticated. */
export class ClientFrameReader {
  private buffered = Buffer.alloc(0)
  private sawIntro = false
  /** The 4-byte `NOISE_WA_HEADER` the client mixed into its handshake hash (`authenticate(NOISE_HEADER)`). */
  noiseHeader: Buffer | undefined

  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : Buffer.from(chunk)
    if (!this.sawIntro && !this.readIntro()) return []
    const frames: Buffer[] = []
    while (this.buffered.length >= 3) {
      const size = (this.buffered[0]! << 16) | (this.buffered[1]! << 8) | this.buffered[2]!
      if (this.buffered.length < size + 3) break
      frames.push(this.buffered.subarray(3, size + 3))
      this.buffered = this.buffered.subarray(size + 3)
    }
    return frames
  }

  private readIntro(): boolean {
    const b = this.buffered
    if (b.length < 4) return false
    if (b[0] === 0x57 && b[1] === 0x41) {
      // 'WA' + 6 + DICT_VERSION (`Defaults` NOISE_WA_HEADER)
      this.noiseHeader = Buffer.from(b.subarray(0, 4))
      this.buffered = b.subarray(4)
    } else if (b[0] === 0x45 && b[1] === 0x44) {
      // 'ED' 0 1 + uint24 length + routing info + NOISE_WA_HEADER (`makeNoiseHandler` with routingInfo)
      if (b.length < 7) return false
      const len = (b[4]! << 16) | b.readUInt16BE(5)
      if (b.length < 7 + len + 4) return false
      this.noiseHeader = Buffer.from(b.subarray(7 + len, 7 + len + 4))
      this.buffered = b.subarray(7 + len + 4)
    } else {
      throw new Error(`unknown intro header ${b.subarray(0, 4).toString('hex')}`)
    }
    this.sawIntro = true
    return true
  }
}

/** A server frame: 3-byte length + payload (`noise-handler` `processData` reads exactly this). */
export function encodeServerFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(3 + payload.byteLength)
  frame[0] = (payload.byteLength >>> 16) & 0xff
  frame[1] = (payload.byteLength >>> 8) & 0xff
  frame[2] = payload.byteLength & 0xff
  frame.set(payload, 3)
  return frame
}
