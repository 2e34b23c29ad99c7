"""The local stand-in of AWS: what `progress-admin serve`, the tests and the benchmarks use to run the
functions as AWS would. Each module does one job; the package imports nothing at its top level, so that
reading the template stays cheap (PyYAML only) for callers that must run before Powertools is imported.

    intrinsics   the one resolver of CloudFormation intrinsic functions (also the artifact smoke's)
    template     template.yaml: functions, environments, HTTP and WebSocket routes, SQS consumer, CORS
    events       the one builder of the events AWS sends (HTTP API 2.0, WebSocket, SQS, schedule)
    runtime      the Lambda runtime: import a handler under its environment, invoke it with a context
"""
