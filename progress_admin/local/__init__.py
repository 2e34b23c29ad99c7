"""The local stand-in of AWS: what `progress-admin serve`, the tests and the benchmarks use to run the
functions as AWS would. Each module does one job; the package imports nothing at its top level, so that
reading the template stays cheap (PyYAML only) for callers that must run before Powertools is imported.

    intrinsics   the one resolver of CloudFormation intrinsic functions (also the artifact smoke's)
    template     template.yaml: functions, environments, HTTP and WebSocket routes, SQS consumer, CORS
    events       the one builder of the events AWS sends (HTTP API 2.0, WebSocket, SQS, schedule)
    runtime      the Lambda runtime: import a handler under its environment, invoke it with a context
    gateway      the HTTP API gateway: routes with path parameters, claims passed through, CORS
    static       the dashboard's files, the OpenAPI document and Swagger UI
    websocket    the WebSocket API ($connect, $disconnect) and its management API (/@connections/{id})
    queue        the attempts queue: POST /local/attempts runs the SQS consumer on one batch
    live         live updates put together (functions, ports, the layer's live settings)
    web          aiohttp, with its pure-Python HTTP parser
    exports      the export queue (POST /local/sqs) and bucket (a folder, signed download links)
    server       the network server (aiohttp on loopback): what answers each request
    serve        `progress-admin serve` put together: create_server, the banner
"""
