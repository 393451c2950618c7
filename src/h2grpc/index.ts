// tsraft/h2grpc (internal): a gRPC server on the package's own HTTP/2
// framing, and HPACK. Serves etcd's v3 API (src/v3rpc); see connection.ts
// for why it is not node:http2.

export { GrpcCall, type GrpcMethod, H2Connection, type MethodKind, Status } from "./connection.ts";
export { HpackError } from "./errors.ts";
export { encodeLiterals, type HeaderField, HpackDecoder, huffmanCode, huffmanDecode } from "./hpack.ts";
export { GrpcServer, type GrpcServerOptions } from "./server.ts";
