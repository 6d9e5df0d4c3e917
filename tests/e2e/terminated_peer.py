#!/usr/bin/env python3
"""The Linux side of tests/e2e/test_terminated.sh: ordinary kernel TCP sockets against the
gateway's terminated endpoint (tests/unit/stream/stream_peer). Prints one JSON object.

  terminated_peer.py echo HOST PORT N          send N random bytes while reading the echo
  terminated_peer.py send HOST PORT N          send N, shut down writing, read to EOF
  terminated_peer.py recv HOST PORT [--then-send N] [--pause-after N --pause S] [--rcvbuf B]
                                               read to EOF (then send N and close)
  terminated_peer.py reset HOST PORT AFTER     read AFTER bytes, then close with a RST
  terminated_peer.py expect-reset HOST PORT N  send up to N bytes; the peer must reset
  terminated_peer.py server HOST PORT N        accept one connection, read to EOF, send N
"""
import hashlib
import json
import random
import socket
import struct
import sys
import threading
import time

CHUNK = 65536
TIMEOUT = 60


def data(n, seed=1):
    return random.Random(seed).randbytes(n)


def connect(host, port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(TIMEOUT)
    s.connect((host, port))
    return s


def read_all(s, h, pause_after=None, pause=0.0, slow=False):
    n = 0
    paused = False
    while True:
        b = s.recv(8192 if slow else CHUNK)
        if not b:
            return n
        h.update(b)
        n += len(b)
        if pause_after is not None and not paused and n >= pause_after:
            time.sleep(pause)  # the window closes and stays closed
            paused = True
        if slow:
            time.sleep(0.002)


def main():
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = {}
    t0 = time.monotonic()
    if cmd == "echo":
        n = int(sys.argv[4])
        payload = data(n)
        s = connect(host, port)
        got = hashlib.sha256()
        box = {}

        def reader():
            try:
                box["n"] = read_all(s, got)
            except Exception as e:  # reported, never swallowed
                box["error"] = repr(e)

        t = threading.Thread(target=reader)
        t.start()
        for i in range(0, n, CHUNK):
            s.sendall(payload[i:i + CHUNK])
        s.shutdown(socket.SHUT_WR)  # half-close: the echo keeps coming after our FIN
        t.join(TIMEOUT * 2)
        s.close()
        out = {"sent": n, "sha256_sent": hashlib.sha256(payload).hexdigest(),
               "received": box.get("n", 0), "sha256_received": got.hexdigest(),
               "error": box.get("error")}
    elif cmd == "send":
        n = int(sys.argv[4])
        payload = data(n)
        s = connect(host, port)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = hashlib.sha256()
        r = read_all(s, got)
        s.close()
        out = {"sent": n, "sha256_sent": hashlib.sha256(payload).hexdigest(), "received": r}
    elif cmd == "recv":
        args = sys.argv[4:]
        opt = {args[i]: args[i + 1] for i in range(0, len(args), 2)}
        s = connect(host, port, int(opt["--rcvbuf"]) if "--rcvbuf" in opt else None)
        got = hashlib.sha256()
        r = read_all(s, got, int(opt["--pause-after"]) if "--pause-after" in opt else None,
                     float(opt.get("--pause", "0")), slow="--slow" in opt)
        out = {"received": r, "sha256_received": got.hexdigest()}
        if "--then-send" in opt:  # after the peer's FIN: its side is shut, ours is not
            n = int(opt["--then-send"])
            payload = data(n, 2)
            s.sendall(payload)
            out.update(sent=n, sha256_sent=hashlib.sha256(payload).hexdigest())
        s.close()
    elif cmd == "reset":
        after = int(sys.argv[4])
        s = connect(host, port)
        n = 0
        while n < after:
            b = s.recv(CHUNK)
            if not b:
                break
            n += len(b)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # with unread data and linger 0: a RST
        out = {"received": n}
    elif cmd == "expect-reset":
        n = int(sys.argv[4])
        payload = data(n)
        s = connect(host, port)
        reset, sent = False, 0
        try:
            for i in range(0, n, CHUNK):
                s.sendall(payload[i:i + CHUNK])
                sent += CHUNK
            s.shutdown(socket.SHUT_WR)
            while s.recv(CHUNK):
                pass
        except (ConnectionResetError, BrokenPipeError):
            reset = True
        s.close()
        out = {"reset": reset, "sent": sent}
    elif cmd == "server":
        n = int(sys.argv[4])
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, port))
        ls.listen(1)
        ls.settimeout(TIMEOUT)
        print(json.dumps({"listening": True}), flush=True)
        s, _ = ls.accept()
        s.settimeout(TIMEOUT)
        got = hashlib.sha256()
        r = read_all(s, got)
        payload = data(n, 3)
        s.sendall(payload)
        s.close()
        ls.close()
        out = {"received": r, "sha256_received": got.hexdigest(), "sent": n,
               "sha256_sent": hashlib.sha256(payload).hexdigest()}
    else:
        sys.exit("unknown command " + cmd)
    out["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
