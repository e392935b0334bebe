#!/usr/bin/env bash
# Unbounded schemathesis run over the whole served OpenAPI document (issue 11: at
# least 30,000 generated requests, 0 x 5xx). Start the app first (make run), then:
#   bench/openapi_fuzz.sh [BASE_URL] [MAX_EXAMPLES]
# Prints schemathesis' summary ("N generated"; ST101 counts server errors).
set -euo pipefail
base=${1:-http://127.0.0.1:5000}
examples=${2:-400}
here=$(cd "$(dirname "$0")/.." && pwd)
exec "$here/.venv/bin/st" run "$base/openapi?f=json" --url "$base" \
  --mode all --phases examples,coverage,fuzzing --max-examples "$examples" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --workers 2 --request-timeout 30 --no-shrink --continue-on-failure
