// Typed errors of the cluster PKI (CA and member certificates).

/** The stable `code` of every PkiError. */
export const PkiErrorCode = {
  /** A member name, URL, host or validity period that cannot go into a certificate. */
  Invalid: "ERR_PKI_INVALID",
  /**
   * Files already in the PKI directory that do not fit what was asked: half a
   * key pair, a certificate from another CA, for other URLs, or expired. They
   * are never overwritten; the message says which file to remove.
   */
  Conflict: "ERR_PKI_CONFLICT",
  /** A CA key of a kind we cannot sign with (only ECDSA P-256 and P-384). */
  UnsupportedKey: "ERR_PKI_UNSUPPORTED_KEY",
  /** Reading or writing a file failed (`path` names it, `cause` holds Node's error). */
  Io: "ERR_PKI_IO",
} as const;
export type PkiErrorCode = (typeof PkiErrorCode)[keyof typeof PkiErrorCode];

/** Every error of certificate issuing and the PKI directory (`tsraft certs`). */
export class PkiError extends Error {
  /** Which failure this is (stable across versions). */
  readonly code: PkiErrorCode;
  /** The file concerned, for Conflict and Io. */
  readonly path: string | undefined;
  constructor(code: PkiErrorCode, message: string, opts: { path?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "PkiError";
    this.code = code;
    this.path = opts.path;
  }
}
