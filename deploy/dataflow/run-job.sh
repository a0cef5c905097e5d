#!/usr/bin/env bash
# Launches one Dataflow job from a newsbeam Flex Template (built by build-template.sh).
# The workers run the same image as the launcher (parameter sdk_container_image=IMAGE).
#
# Required variables:
#   PROJECT      Google Cloud project id, e.g. my-project
#   REGION       Dataflow region, e.g. europe-west1
#   BUCKET       bucket of the templates (gs://BUCKET/templates/…) and, by default, of the output
#   IMAGE        the image reference build-image.sh printed (the template's own image)
#   INPUT        one input: gs:// file, folder or glob, OPML list, or feed URL
#                (stream: a feed URL or OPML list)
# Optional:
#   KIND         ingest (default: a batch run of newsbeam ingest) or stream (newsbeam stream)
#   OUTPUT       output folder (default: gs://BUCKET/lake); keep it stable between runs
#   DATE         ingest only: publication day to write, YYYY-MM-DD or yesterday (default: yesterday)
#   CONTACT_URL  URL or mailto: put in the User-Agent of feed fetches (recommended)
#   JOB_NAME     Dataflow job name (default: newsbeam-KIND-<UTC time>)
#   SERVICE_ACCOUNT  worker service account e-mail (default: the Compute Engine default)
#   MAX_WORKERS  most workers (default: Dataflow's)
#   EXTRA_PARAMETERS  more template parameters, name=value pairs separated by '~'
#                e.g. 'fetch_shards=4~ner_languages=en,de' (commas are fine: '~' separates)
set -euo pipefail

: "${PROJECT:?the Google Cloud project id, e.g. my-project}"
: "${REGION:?the Dataflow region, e.g. europe-west1}"
: "${BUCKET:?the Cloud Storage bucket name (no gs://), e.g. my-newsbeam}"
: "${IMAGE:?the image reference printed by build-image.sh}"
: "${INPUT:?one input: gs:// path, OPML list or feed URL}"

kind="${KIND:-ingest}"
params=("mode=${kind}" "input=${INPUT}" "output=${OUTPUT:-gs://${BUCKET}/lake}" "sdk_container_image=${IMAGE}")
case "$kind" in
  ingest) params+=("date=${DATE:-yesterday}") ;;
  stream) ;;
  *)
    echo "run-job.sh: KIND must be ingest or stream, not '${kind}'" >&2
    exit 2
    ;;
esac
if [[ -n "${CONTACT_URL:-}" ]]; then
  params+=("contact_url=${CONTACT_URL}")
fi
if [[ -n "${EXTRA_PARAMETERS:-}" ]]; then
  params+=("$EXTRA_PARAMETERS")
fi
options=()
if [[ -n "${SERVICE_ACCOUNT:-}" ]]; then
  options+=(--service-account-email "$SERVICE_ACCOUNT")
fi
if [[ -n "${MAX_WORKERS:-}" ]]; then
  options+=(--max-workers "$MAX_WORKERS")
fi

# gcloud reads '^~^a=1~b=2' as a dict separated by '~' (see `gcloud topic escaping`), so
# values may hold commas (ner_languages=en,de).
joined="$(IFS='~'; echo "${params[*]}")"
gcloud dataflow flex-template run "${JOB_NAME:-newsbeam-${kind}-$(date -u +%Y%m%d-%H%M%S)}" \
  --project "$PROJECT" \
  --region "$REGION" \
  --template-file-gcs-location "gs://${BUCKET}/templates/newsbeam-${kind}.json" \
  --parameters "^~^${joined}" \
  "${options[@]}"
