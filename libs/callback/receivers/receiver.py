#!/usr/bin/env python3
"""A callback receiver for mastodon-streaming-listener, standard library only.

Verifies each callback's Standard Webhooks signature and timestamp, answers
204, and prints one JSON line per accepted callback on stdout:

    WEBHOOK_SECRET=... PORT=8080 python3 receiver.py

WEBHOOK_SECRET is the app's webhookSecret (or its secret) from app_map.hjson,
used as its UTF-8 bytes. TOLERANCE_SECONDS (default 300) is how far the
webhook-timestamp may be from this machine's clock. Callbacks are delivered at
least once: a webhook-id already seen is answered 204 and not printed again.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode("utf-8")
TOLERANCE_SECONDS = int(os.environ.get("TOLERANCE_SECONDS", "300"))
MAX_BODY_BYTES = 1024 * 1024
SEEN_LIMIT = 10000


class VerificationError(Exception):
    pass


def verify(headers, body: bytes, now: float) -> None:
    """Raises VerificationError unless the signature over "id.timestamp.body" and the timestamp are good."""
    webhook_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not webhook_id or not timestamp or not signatures:
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise VerificationError("webhook-timestamp is not a number")
    if abs(now - sent_at) > TOLERANCE_SECONDS:
        raise VerificationError("webhook-timestamp is outside the tolerance")
    signed = webhook_id.encode("utf-8") + b"." + timestamp.encode("utf-8") + b"." + body
    expected = base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode("ascii")
    # the header may carry several space-separated "v1,<signature>" entries (key rotation)
    for entry in signatures.split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return
    raise VerificationError("no webhook-signature matches")


class Handler(BaseHTTPRequestHandler):
    seen = OrderedDict()
    seen_lock = threading.Lock()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self.answer(413)
        # the raw bytes exactly as received: re-serialised JSON would not verify
        body = self.rfile.read(length)
        try:
            verify(self.headers, body, time.time())
        except VerificationError as error:
            print(json.dumps({"refused": str(error)}), file=sys.stderr, flush=True)
            return self.answer(401)
        webhook_id = self.headers["webhook-id"]
        with Handler.seen_lock:
            first = webhook_id not in Handler.seen
            Handler.seen[webhook_id] = True
            if len(Handler.seen) > SEEN_LIMIT:
                Handler.seen.popitem(last=False)
        if first:
            callback = json.loads(body)
            print(json.dumps({"verified": True, "webhook_id": webhook_id, "path": self.path, "callback": callback}), flush=True)
        self.answer(204)

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass  # one line per callback on stdout is the output; no access log


def main():
    if not SECRET:
        sys.exit("set WEBHOOK_SECRET to the app's webhookSecret (or secret)")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer((host, port), Handler)
    print(json.dumps({"listening": "http://%s:%d" % (host, server.server_address[1])}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
