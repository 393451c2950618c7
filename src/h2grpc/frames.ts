// HTTP/2 frame layout (RFC 9113 §4, §6) and the few header blocks the server
// sends, encoded once.

import { encodeLiterals } from "./hpack.ts";

export const FRAME_HEADER = 9;
/** SETTINGS_MAX_FRAME_SIZE's default, which this server keeps: no client frame may be larger. */
export const DEFAULT_MAX_FRAME = 16_384;
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;

export const T_DATA = 0x0;
export const T_HEADERS = 0x1;
export const T_PRIORITY = 0x2;
export const T_RST_STREAM = 0x3;
export const T_SETTINGS = 0x4;
export const T_PUSH_PROMISE = 0x5;
export const T_PING = 0x6;
export const T_GOAWAY = 0x7;
export const T_WINDOW_UPDATE = 0x8;
export const T_CONTINUATION = 0x9;

export const F_END_STREAM = 0x1;
export const F_ACK = 0x1;
export const F_END_HEADERS = 0x4;
export const F_PADDED = 0x8;
export const F_PRIORITY = 0x20;

export const S_HEADER_TABLE_SIZE = 0x1;
export const S_MAX_CONCURRENT_STREAMS = 0x3;
export const S_INITIAL_WINDOW_SIZE = 0x4;
export const S_MAX_FRAME_SIZE = 0x5;

/** Error codes (RFC 9113 §7). */
export const E_NO_ERROR = 0x0;
export const E_PROTOCOL_ERROR = 0x1;
export const E_INTERNAL_ERROR = 0x2;
export const E_FLOW_CONTROL_ERROR = 0x3;
export const E_FRAME_SIZE_ERROR = 0x6;
export const E_CANCEL = 0x8;
export const E_COMPRESSION_ERROR = 0x9;
export const E_ENHANCE_YOUR_CALM = 0xb;

/** Writes a frame header at `at`. */
export function putFrameHeader(
  out: Uint8Array,
  at: number,
  length: number,
  type: number,
  flags: number,
  stream: number,
): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out[at + 5] = (stream >>> 24) & 0x7f;
  out[at + 6] = (stream >>> 16) & 0xff;
  out[at + 7] = (stream >>> 8) & 0xff;
  out[at + 8] = stream & 0xff;
}

/** A whole frame with `payload`. */
export function frame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  putFrameHeader(out, 0, payload.length, type, flags, stream);
  out.set(payload, FRAME_HEADER);
  return out;
}

export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  b[0] = (v >>> 24) & 0xff;
  b[1] = (v >>> 16) & 0xff;
  b[2] = (v >>> 8) & 0xff;
  b[3] = v & 0xff;
  return b;
}

export function windowUpdate(stream: number, increment: number): Buffer {
  return frame(T_WINDOW_UPDATE, 0, stream, u32(increment));
}

export function rstStream(stream: number, code: number): Buffer {
  return frame(T_RST_STREAM, 0, stream, u32(code));
}

/** GOAWAY with the last stream this side processed, an error code and optional debug data. */
export function goaway(lastStream: number, code: number, debug: Uint8Array = new Uint8Array(0)): Buffer {
  const p = new Uint8Array(8 + debug.length);
  p.set(u32(lastStream & 0x7fffffff), 0);
  p.set(u32(code), 4);
  p.set(debug, 8);
  return frame(T_GOAWAY, 0, 0, p);
}

/** A header block: `prefix`, then literal fields without indexing (hpack.ts encodeLiterals). */
function literals(
  fields: ReadonlyArray<readonly [string, string]>,
  prefix: readonly number[] = [],
): Uint8Array {
  const block = encodeLiterals(fields.map(([name, value]) => ({ name, value, sensitive: false })));
  const out = new Uint8Array(prefix.length + block.length);
  out.set(prefix, 0);
  out.set(block, prefix.length);
  return out;
}

// ":status: 200" is static entry 8 (indexed: 0x88); content-type is static
// name 31, sent as a literal without indexing (4-bit prefix: 0x0f, then 16).
const STATUS_200_CONTENT_TYPE = [0x88, 0x0f, 0x10, 16, ...Buffer.from("application/grpc")];

/** The response headers of every call. */
export const RESPONSE_HEADERS = Uint8Array.from(STATUS_200_CONTENT_TYPE);
/** The trailers of a call that succeeded. */
export const TRAILERS_OK = literals([["grpc-status", "0"]]);

/** Trailers for a status; with the response headers in front when nothing was sent before (trailers-only). */
export function statusBlock(code: number, message: string, trailersOnly: boolean): Uint8Array {
  const fields: Array<[string, string]> = [["grpc-status", String(code)]];
  if (message !== "") fields.push(["grpc-message", percentEncode(message)]);
  return literals(fields, trailersOnly ? STATUS_200_CONTENT_TYPE : []);
}

/** An HTTP error answer to a request that is not gRPC (":status" only, as a literal). */
export function httpStatusBlock(status: number): Uint8Array {
  return literals([[":status", String(status)]]);
}

/** grpc-message's encoding: UTF-8, with bytes outside 0x20..0x7e and '%' as %XX. */
export function percentEncode(s: string): string {
  const b = Buffer.from(s, "utf8");
  let out = "";
  for (const c of b) {
    if (c >= 0x20 && c <= 0x7e && c !== 0x25) out += String.fromCharCode(c);
    else out += `%${c.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** grpc-timeout ("<up to 8 digits><H|M|S|m|u|n>") in milliseconds; undefined when malformed. */
export function parseTimeout(v: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (m === null) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case "H":
      return n * 3_600_000;
    case "M":
      return n * 60_000;
    case "S":
      return n * 1000;
    case "m":
      return n;
    case "u":
      return n / 1000;
    default:
      return n / 1_000_000;
  }
}
