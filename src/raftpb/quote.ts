// Go's %q rendering of a byte slice, which etcd's describe functions use for
// entry payloads: printable UTF-8 kept, everything else escaped.

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

function hex2(b: number): string {
  return (b < 16 ? "\\x0" : "\\x") + b.toString(16);
}

function escapeRune(cp: number): string {
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, "0")}`;
  return `\\U${cp.toString(16).padStart(8, "0")}`;
}

/** Decodes one UTF-8 sequence at `i`; returns [codePoint, length] or [-1, 1] if invalid. */
function decodeRune(b: Uint8Array, i: number): [number, number] {
  const c0 = b[i]!;
  if (c0 < 0x80) return [c0, 1];
  const cont = (j: number) => j < b.length && (b[j]! & 0xc0) === 0x80;
  if (c0 >= 0xc2 && c0 <= 0xdf && cont(i + 1)) return [((c0 & 0x1f) << 6) | (b[i + 1]! & 0x3f), 2];
  if (c0 >= 0xe0 && c0 <= 0xef && cont(i + 1) && cont(i + 2)) {
    const cp = ((c0 & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f);
    if (cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff)) return [cp, 3];
    return [-1, 1];
  }
  if (c0 >= 0xf0 && c0 <= 0xf4 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
    const cp =
      ((c0 & 0x07) << 18) | ((b[i + 1]! & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f);
    if (cp >= 0x10000 && cp <= 0x10ffff) return [cp, 4];
  }
  return [-1, 1];
}

/** Go's `fmt.Sprintf("%q", b)`. */
export function quoteBytes(b: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c >= 0x20 && c < 0x7f) {
      // Printable ASCII: only the quote and the backslash need escaping.
      out += c === 0x22 ? '\\"' : c === 0x5c ? "\\\\" : String.fromCharCode(c);
      i++;
      continue;
    }
    if (c < 0x80) {
      switch (c) {
        case 0x07:
          out += "\\a";
          break;
        case 0x08:
          out += "\\b";
          break;
        case 0x0c:
          out += "\\f";
          break;
        case 0x0a:
          out += "\\n";
          break;
        case 0x0d:
          out += "\\r";
          break;
        case 0x09:
          out += "\\t";
          break;
        case 0x0b:
          out += "\\v";
          break;
        default:
          out += hex2(c);
      }
      i++;
      continue;
    }
    const [cp, n] = decodeRune(b, i);
    if (cp < 0) {
      out += hex2(c);
    } else {
      const ch = String.fromCodePoint(cp);
      out += PRINTABLE.test(ch) ? ch : escapeRune(cp);
    }
    i += n;
  }
  return `${out}"`;
}

/** UTF-8 encoding without depending on TextEncoder (the core runs in any JS engine). */
export function utf8(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else
      out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return Uint8Array.from(out);
}
