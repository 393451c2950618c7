// etcdctl 3.4 dials a member's client URL as found in MemberList with
// grpc-go's passthrough resolver (`endpoint status --cluster`, `move-leader`
// over several endpoints, clientv3's Maintenance calls), so the HTTP/2
// :authority it sends is the whole URL: "http://127.0.0.1:2379". Go's HTTP/2
// server takes that; Node's (nghttp2) checks :authority against RFC 3986's
// authority characters, finds the "/", and resets every stream with
// PROTOCOL_ERROR before grpc-js sees it. Node offers no switch for that check
// (nghttp2's no-HTTP-messaging option is not exposed), so the client port
// repairs the header on its way in: the bytes a client sends pass through
// an H2AuthorityRewriter before Node's HTTP/2 session reads them.
//
// Cost: a gRPC client's first request decides. Its header block is decoded
// (HPACK, RFC 7541); when the authority is valid (every client but the one
// above) the original bytes go on and the rest of the connection is passed
// through untouched, with no parsing at all. When it is a URL, the block is
// re-encoded with "scheme://" and any path cut away, and from then on every
// header block of that connection is decoded and re-encoded: the rewriter
// keeps the client's dynamic table (the client's encoder refers to it) and
// sends Node literals only (without indexing, raw strings), so Node's
// decoder table stays empty and can never disagree with what the client
// meant. Frames other than HEADERS/CONTINUATION are forwarded as they come
// (a large DATA frame is never buffered).
//
// Anything the rewriter cannot make sense of before deciding is handed on
// unchanged for nghttp2 to judge, as if the rewriter were not there. After
// it has started re-encoding, a broken header block ends the connection
// (an HpackError): passing it on would desynchronise the tables.

import { HpackError } from "./errors.ts";

/** Connection preface every HTTP/2 client sends first (RFC 9113 §3.4). */
const PREFACE_LENGTH = 24;
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const TYPE_CONTINUATION = 0x9;
const FLAG_ACK = 0x1;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** Every HTTP/2 endpoint accepts frames of this size (SETTINGS_MAX_FRAME_SIZE's floor). */
const MAX_OUT_FRAME = 16_384;
/** A header block larger than this is not a gRPC client's: hand it on, or give up. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** Largest dynamic table a client may ask for (nghttp2 advertises 4,096; allow headroom). */
const MAX_TABLE_SIZE = 64 * 1024;
const DEFAULT_TABLE_SIZE = 4096;

// ---- Huffman code (RFC 7541 Appendix B) ---------------------------------------------

/**
 * Code lengths in bits of symbols 0..255, in base 36 ("5" = 5 bits, "s" = 28).
 * HPACK's code is canonical: ordered by (length, symbol), each code is the
 * previous one plus one, shifted left when the length grows. So the lengths
 * define it; EOS (symbol 256) is the all-ones 30-bit code.
 */
const HUFFMAN_LENGTHS =
  "dnsssssssoussussssssssusssssssss" +
  "6aacd68baa8b8666555666666678f6ca" +
  "d67777777777777777777777878djde6" +
  "f56565666577666567655677777fbeds" +
  "kmkkmmmnmnnnnnonoomnonnnnlmnmnno" +
  "mlkmmnnlnmmolmnnllmlnmnnkmmmnmmn" +
  "qqkjmnmpqqqrrqopjlqrrqrollqqsrrr" +
  "koklmllnmmppooqnqrqqrrrrrsrrrrrq";

interface HuffmanDecodeTable {
  /** First code of each length, and the index of its symbol in `symbols`. */
  firstCode: Int32Array;
  firstIndex: Int32Array;
  count: Int32Array;
  symbols: Uint16Array;
}

function buildHuffman(): HuffmanDecodeTable {
  const lengths = HUFFMAN_LENGTHS;
  if (lengths.length !== 256) throw new Error(`huffman table: ${lengths.length} lengths`);
  const len = (s: number) => (s === 256 ? 30 : Number.parseInt(lengths[s]!, 36));
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => len(a) - len(b) || a - b);
  const firstCode = new Int32Array(31).fill(-1);
  const firstIndex = new Int32Array(31);
  const count = new Int32Array(31);
  let code = 0;
  let prev = len(order[0]!);
  for (let i = 0; i < order.length; i++) {
    const l = len(order[i]!);
    if (i > 0) {
      code++;
      code *= 2 ** (l - prev);
    }
    prev = l;
    if (firstCode[l] === -1) {
      firstCode[l] = code;
      firstIndex[l] = i;
    }
    count[l]!++;
  }
  return { firstCode, firstIndex, count, symbols: Uint16Array.from(order) };
}

let huffman: HuffmanDecodeTable | undefined;

/** The canonical code of a symbol (for tests against RFC 7541's table). */
export function huffmanCode(sym: number): { code: number; bits: number } {
  huffman ??= buildHuffman();
  const h = huffman;
  const i = h.symbols.indexOf(sym);
  for (let l = 1; l <= 30; l++) {
    if (h.count[l]! > 0 && i >= h.firstIndex[l]! && i < h.firstIndex[l]! + h.count[l]!)
      return { code: h.firstCode[l]! + (i - h.firstIndex[l]!), bits: l };
  }
  throw new HpackError(`no huffman code for symbol ${sym}`);
}

/** Decodes a Huffman-coded string literal (latin1: one char per octet). */
export function huffmanDecode(src: Uint8Array): string {
  huffman ??= buildHuffman();
  const h = huffman;
  let out = "";
  let code = 0;
  let bits = 0;
  for (let i = 0; i < src.length; i++) {
    const byte = src[i]!;
    for (let b = 7; b >= 0; b--) {
      code = code * 2 + ((byte >> b) & 1);
      bits++;
      const first = h.firstCode[bits]!;
      if (bits <= 30 && first !== -1 && code - first < h.count[bits]! && code >= first) {
        const sym = h.symbols[h.firstIndex[bits]! + code - first]!;
        if (sym === 256) throw new HpackError("huffman string holds EOS");
        out += String.fromCharCode(sym);
        code = 0;
        bits = 0;
      } else if (bits >= 30) {
        throw new HpackError("bad huffman code");
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (the most significant bits of EOS).
  if (bits > 7 || code !== 2 ** bits - 1) throw new HpackError("bad huffman padding");
  return out;
}

// ---- HPACK (RFC 7541) ---------------------------------------------------------------

/** RFC 7541 Appendix A: indexes 1..61. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** A decoded header field; names and values are latin1 strings (one char per octet). */
export interface HeaderField {
  name: string;
  value: string;
  /** Sent as "never indexed": re-encoded the same way (intermediaries must keep it so). */
  sensitive: boolean;
}

/** Decoder side of HPACK with its dynamic table, as the client's encoder sees it. */
export class HpackDecoder {
  /** Newest first: index 62 is entries[0]. */
  private readonly entries: Array<readonly [string, string]> = [];
  private size = 0;
  private maxSize = DEFAULT_TABLE_SIZE;

  decode(block: Uint8Array): HeaderField[] {
    const out: HeaderField[] = [];
    let p = 0;
    const int = (prefixBits: number): number => {
      if (p >= block.length) throw new HpackError("truncated integer");
      const max = (1 << prefixBits) - 1;
      let v = block[p++]! & max;
      if (v < max) return v;
      let shift = 0;
      for (;;) {
        if (p >= block.length) throw new HpackError("truncated integer");
        const b = block[p++]!;
        v += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (v > 0x7fffffff) throw new HpackError("integer overflow");
        if ((b & 0x80) === 0) return v;
      }
    };
    const str = (): string => {
      if (p >= block.length) throw new HpackError("truncated string");
      const huff = (block[p]! & 0x80) !== 0;
      const n = int(7);
      if (p + n > block.length) throw new HpackError("truncated string");
      const raw = block.subarray(p, p + n);
      p += n;
      return huff ? huffmanDecode(raw) : Buffer.from(raw).toString("latin1");
    };
    const entry = (index: number): readonly [string, string] => {
      if (index >= 1 && index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
      const e = this.entries[index - STATIC_TABLE.length - 1];
      if (e === undefined) throw new HpackError(`no table entry ${index}`);
      return e;
    };
    let fieldsSeen = false;
    while (p < block.length) {
      const b = block[p]!;
      if ((b & 0x80) !== 0) {
        const [name, value] = entry(int(7));
        out.push({ name, value, sensitive: false });
      } else if ((b & 0xc0) === 0x40) {
        const idx = int(6);
        const name = idx === 0 ? str() : entry(idx)[0];
        const value = str();
        out.push({ name, value, sensitive: false });
        this.add(name, value);
      } else if ((b & 0xe0) === 0x20) {
        // A table size update must come before the block's first field.
        if (fieldsSeen) throw new HpackError("table size update after a field");
        const n = int(5);
        if (n > MAX_TABLE_SIZE) throw new HpackError("table size too large");
        this.maxSize = n;
        this.evict(0);
        continue;
      } else {
        const sensitive = (b & 0xf0) === 0x10;
        const idx = int(4);
        const name = idx === 0 ? str() : entry(idx)[0];
        const value = str();
        out.push({ name, value, sensitive });
      }
      fieldsSeen = true;
    }
    return out;
  }

  private add(name: string, value: string): void {
    const s = name.length + value.length + 32;
    this.evict(s);
    if (s > this.maxSize) return; // an entry larger than the table empties it and is not added
    this.entries.unshift([name, value]);
    this.size += s;
  }

  /** Drops the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.maxSize) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

function pushInt(out: number[], v: number, prefixBits: number, firstByte: number): void {
  const max = (1 << prefixBits) - 1;
  if (v < max) {
    out.push(firstByte | v);
    return;
  }
  out.push(firstByte | max);
  v -= max;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/**
 * A header block of literals only: "without indexing" (or "never indexed"
 * for sensitive fields), new names, raw strings. Decoding it never touches
 * the receiver's dynamic table.
 */
export function encodeLiterals(fields: readonly HeaderField[]): Buffer {
  const out: number[] = [];
  const pushStr = (s: string) => {
    pushInt(out, s.length, 7, 0x00);
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
  };
  for (const f of fields) {
    out.push(f.sensitive ? 0x10 : 0x00);
    pushStr(f.name);
    pushStr(f.value);
  }
  return Buffer.from(out);
}

// ---- :authority ---------------------------------------------------------------------

/** RFC 3986 authority characters: what nghttp2 accepts in :authority and host. */
const AUTHORITY_CHARS = /^[A-Za-z0-9\-._~%!$&'()*+,;=:@[\]]*$/;

/**
 * The authority a client meant, when it sent a URL ("http://host:port" or
 * with a path) instead of "host:port"; undefined when the value is fine as
 * it is, or beyond repair (then nghttp2 decides, as without the rewriter).
 */
export function repairAuthority(value: string): string | undefined {
  if (AUTHORITY_CHARS.test(value)) return undefined;
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(value);
  if (m === null || !AUTHORITY_CHARS.test(m[1]!)) return undefined;
  return m[1]!;
}

// ---- frames -------------------------------------------------------------------------

// What the rewriter does with a connection (numbers, so that checks after a
// call that changed it are not narrowed away by the compiler).
/** Reading the first header block: decides between the two below. */
const DECIDING: number = 0;
/** Re-encoding every header block of this connection. */
const REWRITING: number = 1;
/** Bytes go on untouched. */
const PASSTHROUGH: number = 2;
/** Decided to pass through, but the SETTINGS ACK to drop has not come yet: frames go on as they come. */
const AWAIT_ACK: number = 3;

/** Options of H2AuthorityRewriter. */
export interface H2AuthorityRewriterOptions {
  /**
   * The server side already sent the client an empty SETTINGS frame of its
   * own (listener.ts does, so that clients which wait for the server's
   * preface send their first request before Node's HTTP/2 session exists):
   * the client's first SETTINGS ACK answers that frame, and Node, which
   * never sent it, would take it for a protocol error. It is dropped; the
   * rewriter passes through only once it has been.
   */
  dropFirstSettingsAck?: boolean;
}

/**
 * Sits on the client-to-server byte stream of one HTTP/2 connection
 * (starting with the connection preface) and repairs URL-shaped
 * :authority values; see the file comment. `push` returns the bytes to
 * hand to the HTTP/2 server for each chunk read from the client.
 */
export class H2AuthorityRewriter {
  private mode = DECIDING;
  private prefaceLeft = PREFACE_LENGTH;
  private pending: Buffer = Buffer.alloc(0);
  /** Payload bytes of a non-header frame still to forward as they arrive. */
  private forwardLeft = 0;
  /** Frames of the header block being collected (verbatim), and its fragments. */
  private blockFrames: Buffer[] = [];
  private blockFragments: Buffer[] = [];
  private blockBytes = 0;
  private blockStream = 0;
  private blockFlags = 0;
  private blockPriority: Buffer | null = null;
  private readonly decoder = new HpackDecoder();
  /** A SETTINGS ACK of the client's is still to be dropped (see H2AuthorityRewriterOptions). */
  private ackToDrop: boolean;
  /** Header blocks whose :authority was repaired (for tests and logs). */
  repaired = 0;

  constructor(opts: H2AuthorityRewriterOptions = {}) {
    this.ackToDrop = opts.dropFirstSettingsAck === true;
  }

  /** Every further byte goes on untouched (the first request's authority was fine). */
  get passthrough(): boolean {
    return this.mode === PASSTHROUGH;
  }

  /** Every header block of this connection is being re-encoded (its first request needed the repair). */
  get rewriting(): boolean {
    return this.mode === REWRITING;
  }

  push(chunk: Buffer): Buffer[] {
    if (this.mode === PASSTHROUGH) return [chunk];
    const out: Buffer[] = [];
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = Buffer.alloc(0);
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, data.length);
      out.push(data.subarray(0, n));
      this.prefaceLeft -= n;
      data = data.subarray(n);
    }
    while (data.length > 0) {
      if (this.mode === PASSTHROUGH) {
        out.push(data);
        return out;
      }
      if (this.forwardLeft > 0) {
        const n = Math.min(this.forwardLeft, data.length);
        out.push(data.subarray(0, n));
        this.forwardLeft -= n;
        data = data.subarray(n);
        continue;
      }
      if (data.length < FRAME_HEADER) break;
      const length = data.readUIntBE(0, 3);
      const type = data[3]!;
      const inBlock = this.blockFrames.length > 0;
      if (this.ackToDrop && type === TYPE_SETTINGS && (data[4]! & FLAG_ACK) !== 0 && length === 0) {
        // The ACK of the listener's own SETTINGS (an ACK with a payload goes on, for nghttp2 to refuse).
        this.ackToDrop = false;
        data = data.subarray(FRAME_HEADER);
        if (this.mode === AWAIT_ACK) this.mode = PASSTHROUGH;
        continue;
      }
      if (this.mode === AWAIT_ACK || (type !== TYPE_HEADERS && type !== TYPE_CONTINUATION && !inBlock)) {
        out.push(data.subarray(0, FRAME_HEADER));
        this.forwardLeft = length;
        data = data.subarray(FRAME_HEADER);
        continue;
      }
      if (this.blockBytes + length > MAX_HEADER_BLOCK) {
        this.giveUp(out, "header block too large");
        if (this.mode === AWAIT_ACK) continue; // frames still parsed, for the ACK
        out.push(data);
        return out;
      }
      if (data.length < FRAME_HEADER + length) break;
      const frame = data.subarray(0, FRAME_HEADER + length);
      data = data.subarray(FRAME_HEADER + length);
      try {
        this.collect(frame, out);
      } catch (err) {
        if (this.mode !== DECIDING) throw err;
        // Not ours to judge: hand on what was held back, unchanged.
        this.giveUp(out, (err as Error).message);
        if (this.mode === AWAIT_ACK) continue;
        out.push(data);
        return out;
      }
    }
    if (data.length > 0) this.pending = Buffer.from(data);
    return out;
  }

  /** Takes one HEADERS or CONTINUATION frame; emits the block once it is complete. */
  private collect(frame: Buffer, out: Buffer[]): void {
    const type = frame[3]!;
    const flags = frame[4]!;
    const stream = frame.readUInt32BE(5) & 0x7fffffff;
    let payload = frame.subarray(FRAME_HEADER);
    const first = this.blockFrames.length === 0;
    // Held first, so that giveUp() hands on this frame too if it does not parse.
    this.blockFrames.push(frame);
    if (first) {
      if (type !== TYPE_HEADERS) throw new HpackError("CONTINUATION without HEADERS");
      if ((flags & FLAG_PADDED) !== 0) {
        const pad = payload[0] ?? 0;
        if (payload.length < 1 + pad) throw new HpackError("bad padding");
        payload = payload.subarray(1, payload.length - pad);
      }
      if ((flags & FLAG_PRIORITY) !== 0) {
        if (payload.length < 5) throw new HpackError("bad priority");
        this.blockPriority = Buffer.from(payload.subarray(0, 5));
        payload = payload.subarray(5);
      } else this.blockPriority = null;
      this.blockStream = stream;
      this.blockFlags = flags;
    } else if (type !== TYPE_CONTINUATION || stream !== this.blockStream) {
      throw new HpackError("header block interrupted");
    }
    this.blockFragments.push(payload);
    this.blockBytes += payload.length;
    if ((flags & FLAG_END_HEADERS) === 0) return;

    // Decoded before the frames are let go: a block that fails is handed on verbatim (giveUp).
    const fields = this.decoder.decode(Buffer.concat(this.blockFragments));
    const frames = this.blockFrames;
    this.blockFrames = [];
    this.blockFragments = [];
    this.blockBytes = 0;
    let changed = false;
    for (const f of fields) {
      if (f.name !== ":authority" && f.name !== "host") continue;
      const fixed = repairAuthority(f.value);
      if (fixed !== undefined) {
        f.value = fixed;
        changed = true;
      }
    }
    if (this.mode === DECIDING && !changed) {
      // The client's authority is fine: from here on the rewriter only costs a check per chunk.
      for (const fr of frames) out.push(fr);
      this.mode = this.ackToDrop ? AWAIT_ACK : PASSTHROUGH;
      return;
    }
    this.mode = REWRITING;
    if (changed) this.repaired++;
    this.emitBlock(encodeLiterals(fields), out);
  }

  /** HEADERS (+ CONTINUATION) frames for a re-encoded block, padding dropped, priority kept. */
  private emitBlock(block: Buffer, out: Buffer[]): void {
    const prio = this.blockPriority;
    let off = 0;
    let first = true;
    do {
      const room = MAX_OUT_FRAME - (first && prio !== null ? 5 : 0);
      const n = Math.min(room, block.length - off);
      const last = off + n === block.length;
      const head = Buffer.alloc(FRAME_HEADER);
      const len = n + (first && prio !== null ? 5 : 0);
      head.writeUIntBE(len, 0, 3);
      head[3] = first ? TYPE_HEADERS : TYPE_CONTINUATION;
      let flags = last ? FLAG_END_HEADERS : 0;
      if (first) flags |= this.blockFlags & (FLAG_END_STREAM | FLAG_PRIORITY);
      head[4] = flags;
      head.writeUInt32BE(this.blockStream, 5);
      out.push(head);
      if (first && prio !== null) out.push(prio);
      out.push(block.subarray(off, off + n));
      off += n;
      first = false;
    } while (off < block.length);
  }

  /** Stops interpreting: whatever was held back goes on as the client sent it. */
  private giveUp(out: Buffer[], _why: string): void {
    if (this.mode === REWRITING) throw new HpackError(`cannot rewrite header block: ${_why}`);
    for (const fr of this.blockFrames) out.push(fr);
    this.blockFrames = [];
    this.blockFragments = [];
    this.blockBytes = 0;
    this.mode = this.ackToDrop ? AWAIT_ACK : PASSTHROUGH;
  }
}
