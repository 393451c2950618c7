// HPACK (RFC 7541): the decoder of a client's header blocks, with its
// dynamic table and the Huffman code, and a literal-only encoder (the
// server's own header blocks never touch the client's table).

import { HpackError } from "./errors.ts";

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
