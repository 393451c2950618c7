// etcd's services as @grpc/grpc-js client definitions, from the protobuf-es
// descriptors (etcd's method paths and codecs): what a Node.js program needs
// to call tsraft-kv (or etcd) with grpc-js directly, e.g.
// grpc.makeGenericClientConstructor(etcdServiceDefinition(KV), "KV").
// Types only: grpc-js is the caller's dependency, not this package's.

import type { DescMessage, DescService, MessageShape } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary } from "../etcdpb/index.ts";

/** A grpc-js service definition of an etcd service. */
export function etcdServiceDefinition(svc: DescService): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of svc.methods) {
    const input = m.input as DescMessage;
    const output = m.output as DescMessage;
    def[m.name] = {
      path: `/${svc.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (v: MessageShape<DescMessage>) => Buffer.from(toBinary(input, v)),
      requestDeserialize: (b: Buffer) => fromBinary(input, b),
      responseSerialize: (v: MessageShape<DescMessage>) => Buffer.from(toBinary(output, v)),
      responseDeserialize: (b: Buffer) => fromBinary(output, b),
      originalName: m.localName,
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return def as grpc.ServiceDefinition;
}
