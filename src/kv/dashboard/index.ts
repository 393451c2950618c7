// The dashboard of a tsraft-kv member (docs/dashboard.md): the page, its
// event stream and the cluster aggregation. A module of its own inside kv: it
// reads its member through DashboardSource and imports only kv's leaf files
// (errors, types, JSON replies), never the member or the REST API.

export {
  DashboardHub,
  type DashboardOptions,
  type DashboardSource,
  dashboardDefaults,
  PeerReportError,
  parseReport,
} from "./hub.ts";
