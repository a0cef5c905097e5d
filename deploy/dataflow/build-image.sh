#!/usr/bin/env bash
# Builds the newsbeam image (deploy/dataflow/Dockerfile: Beam SDK worker + Flex Template launcher)
# from the repository root and pushes it to Artifact Registry as
#   REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE_NAME:TAG
#
# Required variables:
#   PROJECT      Google Cloud project id, e.g. my-project
#   REGION       Artifact Registry location, e.g. europe-west1
#   REPOSITORY   Artifact Registry Docker repository, e.g. newsbeam
#   TAG          image tag, e.g. 20261128-1 or a commit id (never reuse one: jobs name images by tag)
# Optional:
#   IMAGE_NAME   image name in the repository (default: newsbeam)
#   BUILDER      cloudbuild (default: `gcloud builds submit`, no local Docker needed) or
#                docker (local `docker build` + `docker push`; run
#                `gcloud auth configure-docker REGION-docker.pkg.dev` once first)
#
# BEAM_VERSION is passed from constraints.txt's apache-beam pin. The last line printed is
# IMAGE=<reference>, the value build-template.sh and run-job.sh take as IMAGE.
set -euo pipefail

: "${PROJECT:?the Google Cloud project id, e.g. my-project}"
: "${REGION:?the Artifact Registry location, e.g. europe-west1}"
: "${REPOSITORY:?the Artifact Registry Docker repository, e.g. newsbeam}"
: "${TAG:?the image tag, e.g. 20261128-1}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
beam_version="$(sed -n 's/^apache-beam==//p' "$root/constraints.txt")"
if [[ -z "$beam_version" ]]; then
  echo "build-image.sh: no apache-beam pin in $root/constraints.txt" >&2
  exit 1
fi
image="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/${IMAGE_NAME:-newsbeam}:${TAG}"

case "${BUILDER:-cloudbuild}" in
  cloudbuild)
    gcloud builds submit "$root" \
      --project "$PROJECT" \
      --config "$here/cloudbuild.yaml" \
      --ignore-file deploy/dataflow/Dockerfile.dockerignore \
      --substitutions "_IMAGE=${image},_BEAM_VERSION=${beam_version}"
    ;;
  docker)
    DOCKER_BUILDKIT=1 docker build \
      --file "$here/Dockerfile" \
      --build-arg "BEAM_VERSION=${beam_version}" \
      --tag "$image" \
      "$root"
    docker push "$image"
    ;;
  *)
    echo "build-image.sh: BUILDER must be cloudbuild or docker, not '${BUILDER}'" >&2
    exit 2
    ;;
esac

echo "IMAGE=${image}"
