#!/usr/bin/env bash
# deploy.yml's build: `hub build catalog --out dist`, signed with TUF when the online keys are
# configured. The keys come from the environment (CI secrets), never from the repo:
#   TUF_SNAPSHOT_KEY, TUF_TIMESTAMP_KEY, TUF_HUB_KEY   the online keys (key files `hub keys` wrote)
#   TUF_TARGETS_KEY   only when the top-level targets must be signed again (a plugin's authors
#                     registered keys, the hub key was rotated, or the first signed deploy); keep it
#                     offline otherwise — the build says when it is needed
#   HUB_PUBLIC_URL    the published hub, whose metadata the new versions continue from
# The root metadata (public, signed offline) is committed under infra/tuf/root/ (N.root.json;
# HUB_TUF_ROOT_DIR names another dir).
# Without TUF_TIMESTAMP_KEY the build is unsigned, and says so.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
hub=(node "$repo/packages/cli/bin/hub.js")
out=${1:-dist}
catalog=${HUB_CATALOG:-catalog}

if [[ -z "${TUF_TIMESTAMP_KEY:-}" ]]; then
  echo "deploy-build: no TUF_TIMESTAMP_KEY: building UNSIGNED (clients must accept this hub with unsigned: true)" >&2
  exec "${hub[@]}" build "$catalog" --out "$out"
fi
root_dir=${HUB_TUF_ROOT_DIR:-$repo/infra/tuf/root}
roots=("$root_dir"/*.root.json)
if [[ ! -e "${roots[0]}" ]]; then
  echo "deploy-build: the online keys are set but $root_dir holds no N.root.json (commit the root metadata hub keys generate made)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
keys="$work/keys"
mkdir -p "$keys/root"
cp "${roots[@]}" "$keys/root/"
for role in snapshot timestamp hub targets; do
  var="TUF_$(tr '[:lower:]' '[:upper:]' <<<"$role")_KEY"
  if [[ -n "${!var:-}" ]]; then printf '%s' "${!var}" >"$keys/$role.key.json"; fi
done

# The published metadata the versions continue from: timestamp → the snapshot it names → the
# top-level targets the snapshot names (reused as it is while its delegations do not change).
prev=()
if [[ -n "${HUB_PUBLIC_URL:-}" ]]; then
  meta="${HUB_PUBLIC_URL%/}/tuf/metadata"
  mkdir -p "$work/previous/tuf/metadata"
  fetch() { curl --fail --silent --show-error --max-time 60 --max-filesize 67108864 -o "$work/previous/tuf/metadata/$1" "$meta/$1"; }
  version_of() { node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const v=j.signed.meta[process.argv[2]]?.version;if(!Number.isInteger(v))process.exit(1);console.log(v)' "$work/previous/tuf/metadata/$1" "$2"; }
  status=$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 60 "$meta/timestamp.json" || true)
  if [[ "$status" == 200 ]]; then
    fetch timestamp.json
    s=$(version_of timestamp.json snapshot.json)
    fetch "$s.snapshot.json"
    t=$(version_of "$s.snapshot.json" targets.json)
    fetch "$t.targets.json"
    prev=(--previous "$work/previous")
    echo "deploy-build: continuing from the published timestamp (snapshot $s, targets $t)"
  elif [[ "$status" == 404 ]]; then
    echo "deploy-build: $HUB_PUBLIC_URL publishes no signed metadata yet: this is the first signed build (it needs TUF_TARGETS_KEY)"
  else
    echo "deploy-build: $meta/timestamp.json answered $status; refusing to restart the versions" >&2
    exit 1
  fi
fi
"${hub[@]}" build "$catalog" --out "$out" --tuf-keys "$keys" "${prev[@]}"
