// A Watch stream's responses written to its HTTP/2 stream as gRPC frames,
// one write per stream per job (what one synchronous run produced).
//
// A watch fan-out hands each stream many responses at once: one put under a
// prefix that a stream watches ten times is ten WatchResponses, produced in
// one synchronous notify. Written one by one, each is a framed copy and an
// HTTP/2 DATA frame of its own. Here they are gathered
// until the current job's microtasks run, framed (gRPC's 5-byte
// length prefix each, uncompressed) into one buffer and written once: the
// client sees the same messages in the same order, in fewer DATA frames.
//
// Every response of the stream — created and cancel replies, progress,
// events — goes through the same writer, so their order is the order
// WatchSession produced them in (a reply written around the writer could
// overtake events still gathered in it). The call (src/h2grpc GrpcCall)
// sends the response headers before the first bytes and ends the stream
// with the status trailers after every byte written here.
//
// Backpressure: push() answers false once the bytes gathered plus those
// the HTTP/2 stream buffers reach its high-water mark; the session's
// watchers pause then, and resume on the stream's next 'drain'.

/** What the writer needs of a call's HTTP/2 stream (a src/h2grpc GrpcCall, through grpc_server.ts's adapter). */
export interface FrameSink {
  write(chunk: Uint8Array): boolean;
  once(event: "drain", listener: () => void): unknown;
  readonly destroyed: boolean;
  /** The call was ended: writing now would be an error. */
  readonly writableEnded: boolean;
  readonly writableLength: number;
  readonly writableHighWaterMark: number;
}

/** gRPC's message prefix: 1 byte compressed flag, 4 bytes big-endian length. */
const PREFIX_BYTES = 5;

export class GrpcFrameWriter {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private scheduled = false;
  private waitingForDrain = false;
  /** push() answered false since the last onDrain: the caller is owed one. */
  private refused = false;

  constructor(
    private readonly stream: FrameSink,
    private readonly onDrain: () => void,
  ) {}

  /**
   * Queues one encoded message for this turn's write. Returns false when the
   * transport is full (the caller should stop until onDrain), or the
   * stream is gone or ended (the message is dropped: the call is ending).
   */
  push(message: Uint8Array): boolean {
    const s = this.stream;
    if (s.destroyed || s.writableEnded) return false;
    this.parts.push(message);
    this.bytes += PREFIX_BYTES + message.length;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
    if (this.waitingForDrain || this.bytes + s.writableLength >= s.writableHighWaterMark) {
      this.refused = true;
      return false;
    }
    return true;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const parts = this.parts;
    const out = Buffer.allocUnsafe(this.bytes);
    this.parts = [];
    this.bytes = 0;
    if (this.stream.destroyed || this.stream.writableEnded) return;
    let o = 0;
    for (const m of parts) {
      out[o] = 0;
      out.writeUInt32BE(m.length, o + 1);
      out.set(m, o + PREFIX_BYTES);
      o += PREFIX_BYTES + m.length;
    }
    if (this.waitingForDrain) {
      this.stream.write(out);
    } else if (!this.stream.write(out)) {
      this.waitingForDrain = true;
      this.stream.once("drain", this.drained);
    } else if (this.refused) {
      // Refused while gathering, yet the stream took it all: nothing will
      // drain, so the paused callers are told now.
      this.drained();
    }
  };

  private readonly drained = (): void => {
    this.waitingForDrain = false;
    this.refused = false;
    this.onDrain();
  };
}
