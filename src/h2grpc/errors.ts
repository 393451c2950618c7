// Errors of the HTTP/2 gRPC server.

/**
 * A client's HTTP/2 header block that does not decode (bad HPACK, Huffman or
 * table index). The gRPC server answers it with GOAWAY (COMPRESSION_ERROR)
 * and closes the connection; it is not thrown to the server's callers.
 */
export class HpackError extends Error {
  /** Always "ERR_V3RPC_HPACK". */
  readonly code = "ERR_V3RPC_HPACK";
  constructor(message: string) {
    super(`hpack: ${message}`);
    this.name = "HpackError";
  }
}
