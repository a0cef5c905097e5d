#!/usr/bin/env bash
# Builds the two Flex Template spec files from the image build-image.sh pushed:
#   gs://BUCKET/templates/newsbeam-ingest.json   (batch: newsbeam ingest, metadata-ingest.json)
#   gs://BUCKET/templates/newsbeam-stream.json   (streaming: newsbeam stream, metadata-stream.json)
# Both point at the same image; the metadata declares and validates the parameters.
#
# Required variables:
#   PROJECT      Google Cloud project id, e.g. my-project
#   BUCKET       Cloud Storage bucket (name only) for templates, staging and temp files, e.g. my-newsbeam
#   IMAGE        the image reference build-image.sh printed,
#                e.g. europe-west1-docker.pkg.dev/my-project/newsbeam/newsbeam:20261128-1
# Optional:
#   TEMPLATE_PREFIX   folder of the spec files (default: gs://BUCKET/templates)
#
# Jobs launched from the specs stage to gs://BUCKET/staging and gs://BUCKET/tmp unless the
# launch says otherwise.
set -euo pipefail

: "${PROJECT:?the Google Cloud project id, e.g. my-project}"
: "${BUCKET:?the Cloud Storage bucket name (no gs://), e.g. my-newsbeam}"
: "${IMAGE:?the image reference printed by build-image.sh}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="${TEMPLATE_PREFIX:-gs://${BUCKET}/templates}"

for kind in ingest stream; do
  extra=()
  if [[ "$kind" == stream ]]; then
    extra=(--enable-streaming-engine)
  fi
  gcloud dataflow flex-template build "${prefix}/newsbeam-${kind}.json" \
    --project "$PROJECT" \
    --image "$IMAGE" \
    --sdk-language PYTHON \
    --metadata-file "$here/metadata-${kind}.json" \
    --staging-location "gs://${BUCKET}/staging" \
    --temp-location "gs://${BUCKET}/tmp" \
    "${extra[@]}"
  echo "built ${prefix}/newsbeam-${kind}.json"
done
