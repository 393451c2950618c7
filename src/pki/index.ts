// Peer authentication made easy: a cluster CA, member certificates for peer
// mTLS and client TLS, the files laid out for the member flags, and the check
// that a TLS peer is the member it claims to be.

export { PkiError, PkiErrorCode } from "./errors.ts";
export {
  type ClusterPkiResult,
  pkiPaths,
  readClusterCa,
  type WriteClusterPkiOptions,
  writeClusterPki,
} from "./files.ts";
export {
  type AltName,
  certMatchesPeerURLs,
  MEMBER_URN_PREFIX,
  memberUrn,
  normalizePeerURL,
  type PeerIdentity,
  parseSubjectAltName,
  peerIdentity,
} from "./identity.ts";
export {
  type CaOptions,
  type CertificateAuthority,
  checkHost,
  checkMemberName,
  createCa,
  DEFAULT_CA_DAYS,
  DEFAULT_CERT_DAYS,
  type IssueOptions,
  issueClientCert,
  issueMemberCert,
  type MemberCertificates,
  type MemberSpec,
  type PemPair,
} from "./issue.ts";
