// Errors of the HTTP/2 gRPC server.

/**
 * A client's HTTP/2 header block that the client port's :authority repair
 * (h2_authority.ts) cannot decode once it has started re-encoding that
 * connection's headers; the connection is then closed.
 */
export class HpackError extends Error {
  /** Always "ERR_V3RPC_HPACK". */
  readonly code = "ERR_V3RPC_HPACK";
  constructor(message: string) {
    super(`hpack: ${message}`);
    this.name = "HpackError";
  }
}
