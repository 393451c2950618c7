// WatchResponses of event deliveries, encoded by splicing shared parts.
//
// A watch fan-out delivers the same events to many watchers: one put under
// a prefix watched 1,000 times is 1,000 WatchResponses that differ only in
// watch_id. Built as objects and encoded one by one, each costs a header
// (BigInts), an Event and two KeyValues (more BigInts) and a full protobuf
// encoding — most of a member's CPU per delivered event. Protobuf fields
// may be concatenated in field order, and a delivery's fields are exactly
// header (1), watch_id (2) and events (11, repeated): so the header part and
// the events part are encoded once (with etcdpb's own encodeWatchResponse,
// on responses holding only that part, so the bytes are its bytes) and each
// watcher's response is those two with its watch_id field between them —
// byte for byte what encodeWatchResponse gives for the whole response
// (test/v3rpc/watch_encode.test.ts).
//
// Both parts are cached for the most recent key only: a notify hands every
// watcher of a change its events one after the other, so consecutive calls
// share them. Events are matched by the identity of their immutable KeyRevs
// (mvcc/key_index.ts), never by content.

import { encodeWatchResponse, type ResponseHeader, type WatchResponse } from "../etcdpb/index.ts";
import { toKeyValue, type WatchEvent } from "../mvcc/index.ts";

/** A WatchResponse with only the given fields set (proto3 defaults elsewhere). */
function partial(
  header: ResponseHeader | undefined,
  watchId: bigint,
  events: WatchResponse["events"],
): WatchResponse {
  return {
    $typeName: "etcdserverpb.WatchResponse",
    header,
    watchId,
    created: false,
    canceled: false,
    compactRevision: 0n,
    cancelReason: "",
    fragment: false,
    events,
  };
}

/** The store's watch events as etcd's mvccpb.Event messages. */
export function toEvents(evs: readonly WatchEvent[]): WatchResponse["events"] {
  const events: WatchResponse["events"] = new Array(evs.length);
  for (let i = 0; i < evs.length; i++) {
    const e = evs[i]!;
    events[i] = {
      $typeName: "mvccpb.Event",
      type: e.type,
      kv: toKeyValue(e.kv),
      prevKv: e.prev === undefined ? undefined : toKeyValue(e.prev),
    };
  }
  return events;
}

/** The watch_id field (tag and varint; empty for 0, which proto3 leaves out). */
export function watchIdField(id: bigint): Uint8Array {
  return encodeWatchResponse(partial(undefined, id, []));
}

/** Encodes event-delivery WatchResponses, sharing the encoding of parts that repeat across watchers. */
export class WatchResponseSplicer {
  private hdrRev = -1;
  private hdrTerm = -1n;
  private hdrMember = 0n;
  private hdrCluster = 0n;
  private hdrBytes: Uint8Array = new Uint8Array(0);
  private evsKey: WatchEvent[] = [];
  private evsBytes: Uint8Array = new Uint8Array(0);

  /**
   * The bytes of WatchResponse { header, watch_id, events } where the
   * header is (cluster, member, revision, term) and `idField` is
   * watchIdField(watch_id).
   */
  encode(
    cluster: bigint,
    member: bigint,
    term: bigint,
    revision: number,
    idField: Uint8Array,
    evs: readonly WatchEvent[],
  ): Uint8Array {
    const h = this.header(cluster, member, term, revision);
    const e = this.events(evs);
    const out = new Uint8Array(h.length + idField.length + e.length);
    out.set(h, 0);
    out.set(idField, h.length);
    out.set(e, h.length + idField.length);
    return out;
  }

  private header(cluster: bigint, member: bigint, term: bigint, revision: number): Uint8Array {
    if (
      revision !== this.hdrRev ||
      term !== this.hdrTerm ||
      member !== this.hdrMember ||
      cluster !== this.hdrCluster
    ) {
      const header: ResponseHeader = {
        $typeName: "etcdserverpb.ResponseHeader",
        clusterId: cluster,
        memberId: member,
        revision: BigInt(revision),
        raftTerm: term,
      };
      this.hdrBytes = encodeWatchResponse(partial(header, 0n, []));
      this.hdrRev = revision;
      this.hdrTerm = term;
      this.hdrMember = member;
      this.hdrCluster = cluster;
    }
    return this.hdrBytes;
  }

  private events(evs: readonly WatchEvent[]): Uint8Array {
    const key = this.evsKey;
    let same = key.length === evs.length;
    for (let i = 0; same && i < evs.length; i++) {
      const a = key[i]!;
      const b = evs[i]!;
      same = a.kv === b.kv && a.prev === b.prev && a.type === b.type;
    }
    if (!same) {
      this.evsBytes = encodeWatchResponse(partial(undefined, 0n, toEvents(evs)));
      this.evsKey = evs.slice();
    }
    return this.evsBytes;
  }
}
