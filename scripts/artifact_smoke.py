"""CI proves the built artifact: `.aws-sam/build` (after `sam build`) answers every function's sample event
when run by the Lambda runtime's own Python, 3.13 on aarch64 (Debian's, under qemu-user:
scripts/lambda_python.sh), with nothing on the path but the built function folder and the built layers.

    .venv/bin/python scripts/artifact_smoke.py                   # what CI runs, after ./dev sam build
    .venv/bin/python scripts/artifact_smoke.py --cold-import 5   # cold import with and without bytecode

What each run has, as in AWS: the template's environment variables (parameters at their defaults), tracing
on (POWERTOOLS_TRACE_DISABLED=false, a sampled trace header, an X-Ray daemon address nobody listens on: the
SDK must not fail the request), and the database credentials from Secrets Manager: DB_SECRET_ARN names a
secret in a moto server on loopback holding the host, port, user, password and database name of a real,
migrated PostgreSQL scratch database; there is no DATABASE_URL. TLS stays off (the local server has none).

Checked for every function of template.yaml, with events/<its folder>.json:
- the handler answers: an HTTP API event 2xx, an SQS batch without failures, a CloudFormation custom
  resource event a SUCCESS response (PUT to a loopback stand-in of the pre-signed URL), any other event
  no exception and no 5xx;
- no module is loaded from outside the function folder, the layers and the standard library;
- no module of a layer is compiled from source at import: its .pyc files are used;
- the X-Ray SDK and boto3 (the secret) were loaded: tracing and the Secrets Manager path were exercised.
Before that, every .py of each built layer must have a .pyc that this Python accepts (its magic number,
unchecked-hash, the hash of that very source).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from resource import RUSAGE_CHILDREN, getrusage
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from progress_admin.local.intrinsics import StackValues, parameter_values  # noqa: E402
from progress_admin.local.template import function_environment as template_function_environment  # noqa: E402
from progress_admin.local.template import functions, load_template  # noqa: E402

BUILD = ROOT / ".aws-sam" / "build"
INVOKE = ROOT / "scripts" / "lambda_invoke.py"
REGION = "eu-west-1"
SECRET_NAME = "progress/artifact-smoke"

# Over each built layer: every .py has a .pyc with the runtime's magic number (argv[2]), unchecked-hash, of
# that very source. Run by the host's python3.13 (the same version: the emulated one takes 20 s for this;
# that the runtime's Python uses these files is what the invocations show).
PYC_CHECK = r"""
import importlib.util, pathlib, sys
bad, count = [], 0
assert importlib.util.MAGIC_NUMBER.hex() == sys.argv[2], "the host's python3.13 is not the runtime's version"
for source in pathlib.Path(sys.argv[1]).rglob("*.py"):
    count += 1
    cached = pathlib.Path(importlib.util.cache_from_source(str(source)))
    if not cached.is_file():
        bad.append(f"no {cached.name}: {source}")
        continue
    header = cached.read_bytes()[:16]
    if header[:4] != importlib.util.MAGIC_NUMBER:
        bad.append(f"magic number of another Python: {cached}")
    elif int.from_bytes(header[4:8], "little") != 0b01:  # hash-based, source not checked
        bad.append(f"not unchecked-hash: {cached}")
    elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
        bad.append(f"compiled from another source: {cached}")
print(count)
for line in bad[:20]:
    print(line, file=sys.stderr)
sys.exit(1 if bad or not count else 0)
"""


def log(message: str) -> None:
    print(f"artifact smoke: {message}", file=sys.stderr, flush=True)


def lambda_python(*args: str) -> str:
    return subprocess.run(
        [str(ROOT / "scripts" / "lambda_python.sh"), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class UnixSocketForwarder:
    """127.0.0.1:<port> to a PostgreSQL Unix socket (the embedded server listens on one only): the
    secret names a host and a port, as an RDS secret does."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.socket_path)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@contextmanager
def migrated_database() -> Iterator[dict[str, Any]]:
    """A scratch database migrated to head; yields the RDS-style secret that reaches it over TCP."""
    from sqlalchemy import make_url

    from progress_admin.scratch import scratch_database
    from progress_common.db_url import url_from_database_url
    from progress_common.settings import load_settings
    from progress_schema.database import migrate

    with scratch_database("progress_artifact") as database:
        migrate(load_settings({"DATABASE_URL": database.url}))
        sample_export(database.url)
        url = url_from_database_url(database.url)
        forwarder = None
        host, port = url.host, url.port or 5432
        unix_sock = url.query.get("unix_sock")
        if isinstance(unix_sock, str):
            forwarder = UnixSocketForwarder(unix_sock)
            host, port = "127.0.0.1", forwarder.port
        try:
            yield {
                "engine": "postgres",
                "host": host,
                "port": port,
                "username": make_url(database.url).username or "postgres",
                "password": make_url(database.url).password or "unused-by-trust-auth",
                "dbname": url.database,
            }
        finally:
            if forwarder:
                forwarder.close()


# The export events/export_worker.json and events/get_export.json name: user 8's, waiting for the worker
# (tests/test_sample_events.py inserts the same row).
SAMPLE_EXPORT_SQL = "INSERT INTO exports (id, user_id) VALUES ('5f0c6c1e-7b7e-4d0e-9a51-3c1f0d2b9a07', 8)"


# The broken streak events/repair_streak.json repairs: user 9 practised 5 and 4 days ago, missed 3 days (more
# than the 2 starter freezes bridge; a gap short enough to repair) and made the 10 attempts a repair needs today
# (tests/test_sample_events.py inserts the same rows). Days relative to one now(): no midnight between them.
SAMPLE_BREAK_SQL = (
    "INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at)"
    " SELECT 9, 1, true, 'sample', now() - make_interval(days => d.days, secs => d.n)"
    " FROM unnest(ARRAY[5, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) WITH ORDINALITY AS d(days, n)"
)


def sample_export(database_url: str) -> None:
    from sqlalchemy import text

    from progress_common.db import make_engine
    from progress_common.settings import load_settings

    engine = make_engine(load_settings({"DATABASE_URL": database_url}))
    try:
        with engine.connect() as conn:
            conn.execute(text(SAMPLE_EXPORT_SQL))
            conn.execute(text(SAMPLE_BREAK_SQL))
    finally:
        engine.dispose()


def export_resources(template: dict[str, Any], endpoint: str) -> dict[str, str]:
    """The export bucket (named as the stand-in names resolve it) and queue, and the attempts queue, in the
    moto server; the variables whose value only the server knows (the queues' URLs)."""
    import boto3

    credentials = {"region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    bucket = deployed_values(template, {}).name("ExportsBucket")
    boto3.client("s3", endpoint_url=endpoint, **credentials).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    sqs = boto3.client("sqs", endpoint_url=endpoint, **credentials)
    queue = sqs.create_queue(QueueName="exportqueue")
    # the attempts queue the sweep reads (its depth; its age metric from the moto server's CloudWatch)
    attempts = sqs.create_queue(QueueName="attemptsqueue")
    return {"EXPORT_QUEUE_URL": queue["QueueUrl"], "ATTEMPTS_QUEUE_URL": attempts["QueueUrl"]}


@contextmanager
def moto_secret(secret: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """A moto server on loopback holding the secret; yields (endpoint URL, secret ARN)."""
    import boto3

    port = free_port()
    moto_server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client(
            "secretsmanager",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                arn = client.create_secret(Name=SECRET_NAME, SecretString=json.dumps(secret))["ARN"]
                break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield endpoint, arn
    finally:
        process.terminate()
        process.wait(timeout=10)


class CloudFormationResponses(http.server.BaseHTTPRequestHandler):
    """Stands in for the pre-signed S3 URLs custom resources answer to: /response/<function>."""

    received: ClassVar[dict[str, list[dict[str, Any]]]] = {}

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.setdefault(self.path.rsplit("/", 1)[-1], []).append(json.loads(body or b"{}"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "progress-service",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::Partition": "aws",
}


def deployed_values(template: dict[str, Any], overrides: dict[str, str]) -> StackValues:
    """What the template's values resolve to as a deploy would set them: parameters at their defaults
    (or `overrides`), pseudo parameters, a resource's logical id as a stand-in for its name."""
    return StackValues(
        template,
        parameter_values(template, overrides),
        pseudo_parameters=PSEUDO_PARAMETERS,
        resource_names_stand_in=True,
    )


def function_environment(template: dict[str, Any], name: str, overrides: dict[str, str]) -> dict[str, str]:
    """The function's variables as deployed; one that only AWS can resolve (an attribute), or whose
    parameter has no value, is not set."""
    environment = template_function_environment(template, name, deployed_values(template, overrides))
    return {key: value for key, value in environment.variables.items() if value != ""}


def event_kind(event: dict[str, Any]) -> str:
    if "ResponseURL" in event and "RequestType" in event:
        return "custom-resource"
    records = event.get("Records")
    if records and all(r.get("eventSource") == "aws:sqs" for r in records):
        return "sqs"
    if isinstance(event.get("requestContext"), dict) and "http" in event["requestContext"]:
        return "http"
    return "other"


def check_bytecode(python: str, layers: list[Path]) -> None:
    magic = subprocess.run(
        [python, "-I", "-S", "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host_python = lambda_python("--host")
    for layer in layers:
        started = time.monotonic()
        result = subprocess.run(
            [host_python, "-I", "-S", "-B", "-c", PYC_CHECK, str(layer), magic],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"artifact smoke: the layer's bytecode is not the runtime's:\n{result.stderr}")
        log(
            f"{layer.relative_to(ROOT)}: {result.stdout.strip()} .py files, each with its cp313 unchecked-hash "
            f".pyc ({time.monotonic() - started:.1f} s)"
        )


def built_layers(template: dict[str, Any]) -> list[Path]:
    layers = [
        BUILD / name / "python"
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::LayerVersion"
    ]
    missing = [str(p) for p in layers if not p.is_dir()]
    if missing:
        raise SystemExit(f"artifact smoke: not built (run ./dev sam build first): {missing}")
    return layers


def invoke(
    python: str,
    template: dict[str, Any],
    name: str,
    layers: list[Path],
    event_file: Path,
    env: dict[str, str],
    workdir: Path,
) -> dict[str, Any]:
    props = template["Resources"][name]["Properties"]
    function_globals = template.get("Globals", {}).get("Function", {})
    result_file = workdir / f"{name}.json"
    timeout = props.get("Timeout") or function_globals.get("Timeout") or 3
    memory = props.get("MemorySize") or function_globals.get("MemorySize") or 128
    command = [python, "-I", "-S", "-B", str(INVOKE), str(BUILD / name), props["Handler"], str(event_file)]
    command += [str(result_file), name, str(memory), str(timeout), *map(str, layers)]
    started = time.monotonic()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    wall = time.monotonic() - started
    if not result_file.is_file():
        return {"error": f"no report (exit {completed.returncode}):\n{completed.stderr[-4000:]}"}
    report: dict[str, Any] = json.loads(result_file.read_text())
    report["wall_seconds"] = round(wall, 1)
    report["stdout"] = completed.stdout
    report["stderr"] = completed.stderr
    return report


def problems_of(report: dict[str, Any], kind: str, responses: list[dict[str, Any]]) -> list[str]:
    problems = []
    if "error" in report:
        return [f"raised:\n{report['error']}"]
    if report["python"][:4] != "3.13" or report["machine"] != "aarch64":
        problems.append(f"ran on Python {report['python']} {report['machine']}, not 3.13 aarch64")
    if report["outside"]:
        problems.append(
            f"loaded from outside the function, the layers and the stdlib: {report['outside'][:10]}"
        )
    if report["layer_modules_compiled_from_source"]:
        problems.append(
            f"compiled from source at import: {report['layer_modules_compiled_from_source'][:10]}"
        )
    for module, why in (("aws_xray_sdk", "tracing"), ("boto3", "the secret")):
        if module not in report["modules"]:
            problems.append(f"{module} was never imported: {why} not exercised")
    response = report.get("response")
    status = response.get("statusCode") if isinstance(response, dict) else None
    if kind == "http" and not (isinstance(status, int) and 200 <= status < 300):
        problems.append(f"HTTP answer {status}: {str(response)[:500]}")
    elif kind == "sqs" and (not isinstance(response, dict) or response.get("batchItemFailures") != []):
        problems.append(f"SQS batch with failures: {str(response)[:500]}")
    elif kind == "custom-resource" and [r.get("Status") for r in responses] != ["SUCCESS"]:
        problems.append(f"CloudFormation was told {responses}")
    elif isinstance(status, int) and status >= 500:
        problems.append(f"answered {status}: {str(response)[:500]}")
    return problems


def lambda_environment(
    template: dict[str, Any],
    name: str,
    secret_arn: str,
    endpoint: str,
    workdir: Path,
    xray_port: int,
    resources: dict[str, str],
) -> dict[str, str]:
    """What the Lambda runtime would set, with the template's variables (parameters at their defaults;
    `resources`: the variables whose value only the moto server knows)."""
    resource = template["Resources"][name]
    env = function_environment(template, name, {"DbSecretArn": secret_arn})
    # what only the moto server can say: the export queue's URL (the bucket's name is its stand-in)
    env.update({key: value for key, value in resources.items() if key in env})
    env.pop("DATABASE_URL", None)  # the secret is the only way to the database
    env.pop("DB_HOST", None)
    env.update(
        {
            "PATH": "/usr/bin:/bin",
            "HOME": str(workdir),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
            "AWS_ENDPOINT_URL_S3": endpoint,  # the export bucket
            "AWS_ENDPOINT_URL_SQS": endpoint,  # the export queue, the attempts queue's depth
            "AWS_ENDPOINT_URL_CLOUDWATCH": endpoint,  # the attempts queue's age metric (the sweep)
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(BUILD / name),
            "_HANDLER": resource["Properties"]["Handler"],
            # tracing on, a sampled trace, and an X-Ray daemon address nobody listens on
            "POWERTOOLS_TRACE_DISABLED": "false",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_port}",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "_X_AMZN_TRACE_ID": "Root=1-6745a3b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
            "DB_TLS": "disable",  # the local server has no TLS; verified TLS is tested by tests/
        }
    )
    return env


def smoke(jobs: int, only: list[str]) -> int:
    started = time.monotonic()
    template = load_template(ROOT / "template.yaml")
    layers = built_layers(template)
    python = lambda_python()
    log(f"runtime Python: {python}")
    check_bytecode(python, layers)

    runs = []
    for name, resource in functions(template).items():
        if only and name not in only:
            continue
        folder = Path(resource["Properties"]["CodeUri"]).name
        event_file = ROOT / "events" / f"{folder}.json"
        if not event_file.is_file():
            raise SystemExit(f"artifact smoke: {name} has no sample event events/{folder}.json")
        if not (BUILD / name).is_dir():
            raise SystemExit(f"artifact smoke: {name} is not built (run ./dev sam build first)")
        runs.append((name, event_file))

    failures = 0
    with (
        tempfile.TemporaryDirectory(prefix="artifact-smoke-") as tmp,
        migrated_database() as secret,
        moto_secret(secret) as (endpoint, secret_arn),
    ):
        workdir = Path(tmp)
        resources = export_resources(template, endpoint)
        collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CloudFormationResponses)
        threading.Thread(target=collector.serve_forever, daemon=True).start()
        xray_port = free_port()
        log(f"database {secret['dbname']} at {secret['host']}:{secret['port']}; secret {secret_arn} in moto")

        def run(name: str, event_file: Path) -> tuple[str, str, dict[str, Any]]:
            event = json.loads(event_file.read_text())
            kind = event_kind(event)
            if kind == "custom-resource":
                event["ResponseURL"] = f"http://127.0.0.1:{collector.server_port}/response/{name}"
                event_file = workdir / f"{name}-event.json"
                event_file.write_text(json.dumps(event))
            env = lambda_environment(template, name, secret_arn, endpoint, workdir, xray_port, resources)
            return name, kind, invoke(python, template, name, layers, event_file, env, workdir)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for name, kind, report in pool.map(lambda r: run(*r), runs):
                problems = problems_of(report, kind, CloudFormationResponses.received.get(name, []))
                response = report.get("response")
                status = response.get("statusCode", "") if isinstance(response, dict) else ""
                log(
                    f"{name}: {kind} {status} - import {report.get('import_seconds')} s, first call "
                    f"{report.get('first_call_seconds')} s, {report.get('wall_seconds')} s in all"
                    + (" - FAILED" if problems else "")
                )
                for problem in problems:
                    failures += 1
                    log(f"  {name}: {problem}")
                if problems and "stdout" in report:
                    print(report["stdout"][-3000:], report["stderr"][-3000:], sep="\n", file=sys.stderr)
        collector.shutdown()
    verdict = "FAILED" if failures else "every function answered its sample event"
    children = getrusage(RUSAGE_CHILDREN)
    log(
        f"{len(runs)} functions in {time.monotonic() - started:.0f} s ({jobs} at a time, "
        f"{children.ru_utime + children.ru_stime:.0f} s of CPU): {verdict}"
    )
    return 1 if failures else 0


COLD_IMPORT = r"""
import sys, time
function_dir, *layers = sys.argv[1:]
sys.path[:] = [function_dir, *layers, *[p for p in sys.path if p.startswith(sys.base_prefix)]]
started = time.perf_counter()
import app
print(time.perf_counter() - started)
"""


def cold_import(runs: int) -> int:
    """Import GetProgressFunction's handler in fresh runtime interpreters (tracing on), with the built
    layer as it is and with a copy that has no .pyc (-B: nothing written back, as /opt is read-only)."""
    template = load_template(ROOT / "template.yaml")
    layers = built_layers(template)
    python = lambda_python()
    with tempfile.TemporaryDirectory(prefix="cold-import-") as tmp:
        stripped = []
        for index, layer in enumerate(layers):
            copy = Path(tmp) / str(index) / "python"
            shutil.copytree(layer, copy, ignore=shutil.ignore_patterns("__pycache__"))
            stripped.append(copy)
        env = {
            "PATH": "/usr/bin:/bin",
            "POWERTOOLS_SERVICE_NAME": "progress",
            "POWERTOOLS_METRICS_NAMESPACE": "ProgressService",
            "POWERTOOLS_TRACE_DISABLED": "false",
            "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:unused",
            "AWS_DEFAULT_REGION": REGION,
        }
        times: dict[str, list[float]] = {"with bytecode": [], "without bytecode": []}
        for _ in range(runs):
            for label, paths in (("with bytecode", layers), ("without bytecode", stripped)):
                command = [python, "-I", "-S", "-B", "-c", COLD_IMPORT, str(BUILD / "GetProgressFunction")]
                out = subprocess.run(
                    [*command, *map(str, paths)], env=env, capture_output=True, text=True, check=True
                ).stdout
                times[label].append(float(out.strip().splitlines()[-1]))
        for label, values in times.items():
            values.sort()
            print(
                f"{label}: median {values[len(values) // 2]:.2f} s, min {values[0]:.2f} s, "
                f"max {values[-1]:.2f} s over {runs} cold imports (python3.13 aarch64 under qemu, tracing on)"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cold-import", type=int, metavar="N", help="measure N cold imports with/without .pyc"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="invocations at a time")
    parser.add_argument(
        "--only", action="append", default=[], metavar="FUNCTION", help="these functions only"
    )
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.cold_import:
        return cold_import(args.cold_import)
    return smoke(max(1, args.jobs), args.only)


if __name__ == "__main__":
    sys.exit(main())
