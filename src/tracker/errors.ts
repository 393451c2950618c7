// Errors of the progress tracker.

/**
 * Raft asked the tracker for something its invariants rule out: adding to a
 * full in-flight window, or sending entries to a follower in StateSnapshot.
 * Either is a bug in the caller (etcd panics in both places); raft checks
 * `full()` and `isPaused()` before sending, so a correct leader never sees it.
 */
export class TrackerInvariantError extends Error {
  readonly code = "ERR_TRACKER_INVARIANT";
  constructor(message: string) {
    super(message);
    this.name = "TrackerInvariantError";
  }
}
