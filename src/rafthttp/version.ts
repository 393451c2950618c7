// etcd's version headers. Peers exchange X-Server-Version and
// X-Min-Cluster-Version; compatibility is decided on (major, minor) only.

export interface Semver {
  major: number;
  minor: number;
  patch: number;
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export function parseSemver(text: string): Semver | undefined {
  const m = SEMVER.exec(text);
  if (m === null) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

export function compareMajorMinor(a: Semver, b: Semver): number {
  if (a.major !== b.major) return a.major < b.major ? -1 : 1;
  if (a.minor !== b.minor) return a.minor < b.minor ? -1 : 1;
  return 0;
}

/** What a missing version header means (etcd 2.0 did not send one). */
export const V2_0_0: Semver = { major: 2, minor: 0, patch: 0 };
export const MIN_CLUSTER_VERSION = "3.0.0";

/**
 * Both stream types exist from etcd 2.1 up to the newest version we know
 * (3.8); 2.0 had none. Only consulted when the peer is older than us.
 */
export function streamSupported(v: Semver): boolean {
  if (v.major === 2) return v.minor >= 1 && v.minor <= 3;
  return v.major === 3 && v.minor <= 8;
}

/**
 * etcd's request check: the sender must be at least our minimum cluster
 * version, and must not require a cluster newer than us. An unparsable header
 * counts as incompatible (etcd would drop the connection).
 */
export function versionsCompatible(
  remoteServer: string | undefined,
  remoteMin: string | undefined,
  local: Semver,
  localMin: Semver,
): boolean {
  const rs = remoteServer === undefined ? V2_0_0 : parseSemver(remoteServer);
  const rm = remoteMin === undefined ? V2_0_0 : parseSemver(remoteMin);
  if (rs === undefined || rm === undefined) return false;
  return compareMajorMinor(rs, localMin) >= 0 && compareMajorMinor(rm, local) <= 0;
}
