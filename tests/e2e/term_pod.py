#!/usr/bin/env python3
"""A pod for tests/e2e/test_term_proxy.sh: HTTP/1.1 with keep-alive on ADDR:PORT, named NAME.

  GET  /hdr           the request's headers back, one per line ("name: value"), and "pod=NAME"
  GET  /big?n=N       N pattern bytes (byte i = (i * 131 + (i >> 9)) & 255)
  GET  /chunked?n=N   the same bytes, chunked
  POST /sum           the body's length and SHA-256 (Content-Length or chunked bodies)
  anything else       "pod=NAME path=PATH"
"""
import hashlib
import http.server
import sys


def pattern(n):
    return bytes(((i * 131 + (i >> 9)) & 255) for i in range(n))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        n = int(query[2:]) if query.startswith("n=") else 0
        if path == "/hdr":
            lines = ["%s: %s" % (k.lower(), v) for k, v in self.headers.items()]
            self.reply(("\n".join(lines) + "\npod=%s\n" % NAME).encode())
        elif path == "/big":
            self.reply(pattern(n), "application/octet-stream")
        elif path == "/chunked":
            data = pattern(n)
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 10000):
                piece = data[i:i + 10000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.reply(("pod=%s path=%s\n" % (NAME, self.path)).encode())

    def do_POST(self):
        h = hashlib.sha256()
        n = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                self.rfile.readline()
                h.update(data)
                n += len(data)
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                data = self.rfile.read(min(left, 65536))
                h.update(data)
                n += len(data)
                left -= len(data)
        self.reply(("pod=%s length=%d sha256=%s\n" % (NAME, n, h.hexdigest())).encode())


if __name__ == "__main__":
    addr, port, NAME = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    http.server.ThreadingHTTPServer((addr, port), Handler).serve_forever()
