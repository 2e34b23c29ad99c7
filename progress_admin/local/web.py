"""aiohttp, the network server of `serve` (HTTP/1.1 and WebSocket), with its pure-Python HTTP parser.

aiohttp's C parser (llhttp) leaves a request unanswered for ever when its chunked body turns out broken
after the headers were handed over (seen with aiohttp 3.14.5: the handler's read never ends); the
pure-Python parser fails the read (RequestPayloadError), which serve answers with a 400. aiohttp reads
the switch once, when it is first imported: every module of this package imports aiohttp from here.
"""

from __future__ import annotations

import os

os.environ.setdefault("AIOHTTP_NO_EXTENSIONS", "1")

from aiohttp import WSMsgType, http_parser, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

# True when aiohttp was imported elsewhere first, with its C parser (server.py warns at start)
C_PARSER = http_parser.HttpRequestParser is not http_parser.HttpRequestParserPy

__all__ = ["C_PARSER", "BadHttpMessage", "LineTooLong", "WSMsgType", "web"]
