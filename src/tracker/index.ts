export { TrackerInvariantError } from "./errors.ts";
export { Inflights } from "./inflights.ts";
export { Progress, ProgressMap, ProgressStateType, progressStateNames } from "./progress.ts";
export { ProgressTracker, TrackerConfig } from "./tracker.ts";
