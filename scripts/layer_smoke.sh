#!/usr/bin/env bash
# Is the CommonLayer self-contained? Build it with its own Makefile for this machine's platform and
# Python, then serve the sample GET /progress event with nothing on the path but the layer and the
# function folder (no site-packages): a dependency missing from layers/common/requirements.txt, or a
# local-only import (alembic, yaml, pgserver, boto3) on the request path, fails here.
# With DATABASE_URL (a migrated database) the request must answer 200; without, the database is
# unreachable and it must answer 503 - either way every import of the request path has happened.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
python_version="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
python_bin="$(python3 -c 'import sys; print(sys.executable)')"  # the real binary, not a pyenv shim
database_url="${DATABASE_URL:-postgresql://nobody@127.0.0.1:1/none}"
expected_status=$([[ -n "${DATABASE_URL:-}" ]] && echo 200 || echo 503)
make -s -C layers/common build-CommonLayer ARTIFACTS_DIR="$out" \
    LAMBDA_PLATFORM="manylinux2014_$(uname -m)" LAMBDA_PYTHON="$python_version" LAMBDA_PYTHON_BIN="$python_bin" \
    >/dev/null 2>&1
env -i PATH=/usr/bin:/bin HOME="$out" DATABASE_URL="$database_url" POWERTOOLS_SERVICE_NAME=progress \
    POWERTOOLS_METRICS_NAMESPACE=ProgressService POWERTOOLS_TRACE_DISABLED=1 DB_CONNECT_TIMEOUT_SECONDS=2 \
    "$python_bin" -S - "$out/python" "functions/get_progress" "events/get_progress.json" "$expected_status" <<'PY'
import json, sys
layer, function, event_file, expected = sys.argv[1:5]
sys.path[:0] = [layer, function]
import app  # noqa: E402

class Context:
    function_name = "layer-smoke"
    function_version = "1"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:local:0:function:layer-smoke"
    aws_request_id = "layer-smoke"

response = app.lambda_handler(json.load(open(event_file)), Context())
local_only = [m for m in ("alembic", "yaml", "pgserver", "boto3", "pytest") if m in sys.modules]
assert response["statusCode"] == int(expected), response
assert not local_only, f"imported on the request path: {local_only}"
print("layer smoke: GET /progress answered by the layer alone:", response["statusCode"], file=sys.stderr)
PY
