// The per-key history of the MVCC engine.
//
// etcd keeps, per key, a keyIndex of "generations": a generation is one
// incarnation of the key, from the put that created it to the tombstone that
// ended it. Here the same information is one array of versions, ascending by
// revision, in which a tombstone closes a generation and the next put opens
// one (its createRevision is its own revision, its version 1). Every
// version is an immutable KeyRev that also carries the value, so that a
// read at any revision, a watcher replaying history and a snapshot streaming
// in the background all share the same objects without copying.

import { EMPTY } from "./bytes.ts";

/** One version of a key. Never mutated after creation. */
export class KeyRev {
  constructor(
    /** The key as a binary string (see bytes.ts). */
    readonly key: string,
    readonly keyBytes: Uint8Array,
    /** Main revision: the write transaction that made this version. */
    readonly main: number,
    /** Position of this change within its transaction (0, 1, ...). */
    readonly sub: number,
    /** Revision of the put that created this generation; 0 for a tombstone. */
    readonly createRevision: number,
    /** Puts since creation (1 after creation); 0 for a tombstone. */
    readonly version: number,
    /** The value; EMPTY for a tombstone. */
    readonly value: Uint8Array,
    /** Attached lease ID, 0n = none. */
    readonly lease: bigint,
    /** A deletion: ends the generation; carries only key and main revision. */
    readonly tombstone: boolean,
  ) {}

  /** The tombstone version that ends a key's generation at revision (main, sub). */
  static tombstoneOf(key: string, keyBytes: Uint8Array, main: number, sub: number): KeyRev {
    return new KeyRev(key, keyBytes, main, sub, 0, 0, EMPTY, 0n, true);
  }
}

/** The history of one key: its versions across generations, as etcd's keyIndex (compaction trims it). */
export class KeyIndex {
  /** Versions ascending by (main, sub); never empty while the index is in the store. */
  readonly revs: KeyRev[] = [];
  constructor(
    readonly key: string,
    readonly keyBytes: Uint8Array,
  ) {}

  /** The live version now, or undefined if the key is deleted. */
  latest(): KeyRev | undefined {
    const r = this.revs[this.revs.length - 1];
    return r === undefined || r.tombstone ? undefined : r;
  }

  /** The newest version with main revision <= rev (tombstones included). */
  private newestAtOrBefore(rev: number): number {
    const revs = this.revs;
    // Fast path: reads at the current revision hit the last element.
    if (revs.length > 0 && revs[revs.length - 1]!.main <= rev) return revs.length - 1;
    let lo = 0;
    let hi = revs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (revs[mid]!.main <= rev) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The live version as of revision rev ("immediately after rev"), if any. */
  at(rev: number): KeyRev | undefined {
    const i = this.newestAtOrBefore(rev);
    if (i < 0) return undefined;
    const r = this.revs[i]!;
    return r.tombstone ? undefined : r;
  }

  /**
   * Drops the versions a compaction at `atRev` makes unreachable: everything
   * older than the newest version <= atRev, and that one too if it is a
   * tombstone (etcd keeps no deleted generation behind the compaction
   * point). Returns true when nothing is left, so the key can be forgotten.
   */
  compact(atRev: number): boolean {
    const i = this.newestAtOrBefore(atRev);
    if (i < 0) return this.revs.length === 0;
    const drop = this.revs[i]!.tombstone ? i + 1 : i;
    if (drop > 0) this.revs.splice(0, drop);
    return this.revs.length === 0;
  }
}
