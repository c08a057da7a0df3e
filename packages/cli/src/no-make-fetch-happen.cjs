// Stands in for make-fetch-happen in the bundles (packages/cli/build.mjs aliases it here): tuf-js
// needs it only for its default fetcher, and every client here gives tuf-js its own
// (hub-core's TufHttpFetcher), so ~2 MB of HTTP cache code stays out of `hub` and `coreservice`.
module.exports = function makeFetchHappen() {
  throw new Error("tuf-js's default fetcher is not bundled: give the Updater a fetcher (TufHttpFetcher)");
};
