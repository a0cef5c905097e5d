#!/usr/bin/env bash
# Creates the Cloud Scheduler job of newsbeam-ingest.scheduler.yaml: every night at 02:15 UTC it
# POSTs launch-body.json (placeholders filled in) to the Dataflow API's flexTemplates:launch,
# starting the ingest Flex Template (deploy/dataflow/build-template.sh) with date=yesterday.
#
# Required variables:
#   PROJECT      Google Cloud project id, e.g. my-project
#   REGION       region of the Scheduler job and of the Dataflow job, e.g. europe-west1
#   BUCKET       bucket (name only) of the templates, the output (gs://BUCKET/lake), staging and temp
#   IMAGE        the image reference deploy/dataflow/build-image.sh printed
#   INPUT        the nightly input: gs:// folder or glob, OPML list (gs:// or URL) or feed URL
#   CONTACT_URL  URL or mailto: put in the User-Agent of feed fetches
#   SCHEDULER_SERVICE_ACCOUNT  e-mail of the account whose OAuth token the job sends
#                (roles/dataflow.developer, roles/iam.serviceAccountUser on the worker account)
#   WORKER_SERVICE_ACCOUNT     e-mail of the Dataflow worker service account
# Optional:
#   JOB          Scheduler job name (default: newsbeam-nightly-ingest)
#   SCHEDULE     cron schedule (default: '15 2 * * *'), in TIME_ZONE (default: Etc/UTC)
#
# To change an existing job, delete it first (gcloud scheduler jobs delete JOB --location REGION).
set -euo pipefail

: "${PROJECT:?the Google Cloud project id, e.g. my-project}"
: "${REGION:?the region of the Scheduler and Dataflow jobs, e.g. europe-west1}"
: "${BUCKET:?the Cloud Storage bucket name (no gs://), e.g. my-newsbeam}"
: "${IMAGE:?the image reference printed by build-image.sh}"
: "${INPUT:?the nightly input: gs:// path, OPML list or feed URL}"
: "${CONTACT_URL:?a URL or mailto: for the User-Agent of feed fetches}"
: "${SCHEDULER_SERVICE_ACCOUNT:?the e-mail of the service account that launches the job}"
: "${WORKER_SERVICE_ACCOUNT:?the e-mail of the Dataflow worker service account}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# launch-body.json with each ${NAME} replaced by the variable's value (values must not
# hold characters JSON would need escaped).
render() {
  local text name
  text="$(<"$1")"
  for name in BUCKET IMAGE INPUT CONTACT_URL WORKER_SERVICE_ACCOUNT; do
    if [[ "${!name}" == *[\"\\]* ]]; then
      echo "create-scheduler-job.sh: $name must not contain a double quote or a backslash" >&2
      return 1
    fi
    text="${text//"\${$name}"/"${!name}"}"
  done
  if [[ "$text" =~ \$\{[A-Z_]+\} ]]; then
    echo "create-scheduler-job.sh: unfilled placeholder left in $1" >&2
    return 1
  fi
  printf '%s\n' "$text"
}

body="$(mktemp)"
trap 'rm -f "$body"' EXIT
render "$here/launch-body.json" >"$body"

gcloud scheduler jobs create http "${JOB:-newsbeam-nightly-ingest}" \
  --project "$PROJECT" \
  --location "$REGION" \
  --description "newsbeam nightly ingest (articles published yesterday, UTC) on Dataflow" \
  --schedule "${SCHEDULE:-15 2 * * *}" \
  --time-zone "${TIME_ZONE:-Etc/UTC}" \
  --uri "https://dataflow.googleapis.com/v1b3/projects/${PROJECT}/locations/${REGION}/flexTemplates:launch" \
  --http-method post \
  --headers "Content-Type=application/json" \
  --message-body-from-file "$body" \
  --oauth-service-account-email "$SCHEDULER_SERVICE_ACCOUNT" \
  --oauth-token-scope "https://www.googleapis.com/auth/cloud-platform" \
  --attempt-deadline 180s \
  --max-retry-attempts 3 \
  --min-backoff 300s \
  --max-backoff 1800s \
  --max-doublings 2
