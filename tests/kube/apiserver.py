#!/usr/bin/env python3
"""A test Kubernetes API server: the list/watch protocol for the four kinds Sluice reads.

It answers as kube-apiserver does, not as our client expects:
  - one global resourceVersion (etcd's revision) stamped on every write;
  - lists with limit/continue, items without kind/apiVersion, metadata.resourceVersion;
  - watches as chunked JSON lines (ADDED, MODIFIED, DELETED, BOOKMARK when asked for with
    allowWatchBookmarks), ended at timeoutSeconds with a clean last chunk;
  - a watch from a compacted resourceVersion gets HTTP 200 and an ERROR event with a 410
    Status (what the real server sends); an expired continue token gets HTTP 410;
  - PATCH of the Ingress status subresource with merge-patch+json (only status changes);
  - bearer-token and client-certificate authentication (401 otherwise), HTTPS.

Test controls on a separate plain-HTTP port (127.0.0.1 only):
  POST /_test/apply            body: JSON or YAML objects (one or many documents)
  POST /_test/delete?kind=K&namespace=N&name=X
  POST /_test/drop             end every open watch abruptly (no last chunk)
  POST /_test/compact          forget history: older resourceVersions now get 410
  POST /_test/down?seconds=S   close every API connection at once for S seconds
  POST /_test/fail?count=N&code=C   the next N API requests get HTTP C
  GET  /_test/patches          status PATCHes received, as a JSON array
  GET  /_test/requests         API requests received ("METHOD path?query"), as a JSON array
  GET  /_test/object?kind=K&namespace=N&name=X

Run: apiserver.py --port P --control-port C [--cert F --key F [--client-ca F]] [--token T]
Prints "ready" on stdout once both ports listen.
"""
import argparse
import bisect
import copy
import datetime
import http.server
import json
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

try:
    import yaml
except ImportError:  # only needed for YAML bodies on the control port
    yaml = None

KINDS = {
    # kind: (apiVersion, list path, namespaced)
    "Ingress": ("networking.k8s.io/v1", "/apis/networking.k8s.io/v1/ingresses", True),
    "IngressClass": ("networking.k8s.io/v1", "/apis/networking.k8s.io/v1/ingressclasses", False),
    "Service": ("v1", "/api/v1/services", True),
    "EndpointSlice": ("discovery.k8s.io/v1", "/apis/discovery.k8s.io/v1/endpointslices", True),
    "Secret": ("v1", "/api/v1/secrets", True),
}


def selected(obj, q):
    """The fieldSelector the gateway uses on Secrets: type=VALUE (others are refused)."""
    sel = q.get("fieldSelector", "")
    if not sel:
        return True
    field, _, value = sel.partition("=")
    if field != "type":
        raise ValueError("unsupported field selector " + sel)
    return obj.get("type") == value
PATH_KIND = {v[1]: k for k, v in KINDS.items()}


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class Store:
    def __init__(self):
        self.cv = threading.Condition()
        self.rv = 100
        self.objects = {k: {} for k in KINDS}  # kind -> (ns, name) -> object
        self.events = []  # (rv, kind, type, object)
        self.compacted = 0  # watches from a resourceVersion below this get 410
        self.drop_gen = 0
        self.down_until = 0.0
        self.fail_count = 0
        self.fail_code = 500
        self.patches = []
        self.posted_events = []
        self.requests = []
        self.continues = {}  # token -> (kind, rv, offset)

    def _bump(self):
        self.rv += 1
        return str(self.rv)

    def apply(self, obj):
        kind = obj.get("kind")
        if kind not in KINDS:
            raise ValueError("unsupported kind %r" % kind)
        api, _, namespaced = KINDS[kind]
        obj = copy.deepcopy(obj)
        obj["apiVersion"] = api
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace", "default") if namespaced else ""
        if namespaced:
            meta["namespace"] = ns
        key = (ns, meta["name"])
        with self.cv:
            old = self.objects[kind].get(key)
            if old:
                meta["uid"] = old["metadata"]["uid"]
                meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
                gen = old["metadata"].get("generation", 1)
                if obj.get("spec") != old.get("spec"):
                    gen += 1
                meta["generation"] = gen
                if "status" in old and "status" not in obj:
                    obj["status"] = old["status"]
            else:
                meta["uid"] = str(uuid.uuid4())
                meta.setdefault("creationTimestamp", datetime.datetime.utcnow().strftime(
                    "%Y-%m-%dT%H:%M:%SZ"))
                meta["generation"] = 1
            meta["resourceVersion"] = self._bump()
            self.objects[kind][key] = obj
            self.events.append((self.rv, kind, "MODIFIED" if old else "ADDED", copy.deepcopy(obj)))
            self.cv.notify_all()
            return obj

    def delete(self, kind, ns, name):
        with self.cv:
            obj = self.objects[kind].pop((ns, name), None)
            if obj is None:
                return None
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = self._bump()
            self.events.append((self.rv, kind, "DELETED", obj))
            self.cv.notify_all()
            return obj

    def patch_status(self, ns, name, patch):
        with self.cv:
            obj = self.objects["Ingress"].get((ns, name))
            if obj is None:
                return None
            obj = copy.deepcopy(obj)
            obj["status"] = merge_patch(obj.get("status", {}), patch.get("status", {}))
            obj["metadata"]["resourceVersion"] = self._bump()
            self.objects["Ingress"][(ns, name)] = obj
            self.events.append((self.rv, "Ingress", "MODIFIED", copy.deepcopy(obj)))
            self.patches.append({"namespace": ns, "name": name, "patch": patch})
            self.cv.notify_all()
            return obj

    def compact(self):
        with self.cv:
            self.compacted = self.rv + 1
            self.events = []
            self.continues.clear()
            self.drop_gen += 1
            self.cv.notify_all()


class JsonHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-apiserver"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Api(JsonHandler):

    def gate(self):
        """Authentication, injected outages and failures. False when answered already."""
        st = self.server.store
        with st.cv:
            st.requests.append(self.command + " " + self.path)
            down = time.time() < st.down_until
            fail = st.fail_count > 0
            if fail:
                st.fail_count -= 1
        if down:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return False
        token = self.server.token
        has_cert = False
        if isinstance(self.connection, ssl.SSLSocket):
            has_cert = self.connection.getpeercert() is not None
        auth = self.headers.get("Authorization", "")
        if token and auth != "Bearer " + token and not has_cert:
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return False
        if fail:
            self.send_json(st.fail_code, status(st.fail_code, "InternalError",
                                                "injected failure"))
            return False
        return True

    def do_GET(self):
        if not self.gate():
            return
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        kind = PATH_KIND.get(u.path)
        if kind is None:
            self.send_json(404, status(404, "NotFound", "the server could not find the "
                                       "requested resource"))
            return
        if q.get("watch") in ("1", "true"):
            self.watch(kind, q)
        else:
            self.list(kind, q)

    def list(self, kind, q):
        st = self.server.store
        api = KINDS[kind][0]
        limit = int(q.get("limit", "0") or 0)
        with st.cv:
            if "continue" in q:
                c = st.continues.get(q["continue"])
                if c is None or c[0] != kind:
                    self.send_json(410, status(410, "Expired", "The provided continue "
                                               "parameter is too old to display a consistent "
                                               "list result."))
                    return
                _, rv, offset, snapshot = c
            else:
                rv = st.rv
                offset = 0
                snapshot = [copy.deepcopy(o) for _, o in sorted(st.objects[kind].items())
                            if selected(o, q)]
            items = snapshot[offset:offset + limit] if limit else snapshot[offset:]
            meta = {"resourceVersion": str(rv)}
            nxt = offset + len(items)
            if limit and nxt < len(snapshot):
                token = uuid.uuid4().hex
                st.continues[token] = (kind, rv, nxt, snapshot)
                meta["continue"] = token
                meta["remainingItemCount"] = len(snapshot) - nxt
        for it in items:
            it.pop("kind", None)
            it.pop("apiVersion", None)
        self.send_json(200, {"kind": kind + "List", "apiVersion": api, "metadata": meta,
                             "items": items})

    def chunk(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, kind, q):
        st = self.server.store
        api = KINDS[kind][0]
        timeout = min(int(q.get("timeoutSeconds", "1800")), 1800)
        bookmarks = q.get("allowWatchBookmarks") == "true"
        rv_q = q.get("resourceVersion", "")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        end = time.time() + timeout
        next_bookmark = time.time() + self.server.bookmark_interval
        try:
            with st.cv:
                gen = st.drop_gen
                if rv_q in ("", "0"):
                    cursor = st.rv
                    initial = [{"type": "ADDED", "object": copy.deepcopy(o)}
                               for o in st.objects[kind].values() if selected(o, q)]
                else:
                    cursor = int(rv_q)
                    initial = []
                    if cursor + 1 < st.compacted:
                        initial = None
            if initial is None:
                self.chunk({"type": "ERROR", "object": status(
                    410, "Expired", "too old resource version: %d (%d)" % (cursor,
                                                                             st.compacted))})
                self.wfile.write(b"0\r\n\r\n")
                return
            for ev in initial:
                self.chunk(ev)
            while True:
                with st.cv:
                    st.cv.wait_for(lambda: st.drop_gen != gen or self.server.stopping
                                   or (st.events and st.events[-1][0] > cursor), timeout=0.2)
                    if st.drop_gen != gen or self.server.stopping or time.time() < st.down_until:
                        raise ConnectionAbortedError
                    i = bisect.bisect_right(st.events, cursor, key=lambda e: e[0])
                    evs = [e for e in st.events[i:] if e[1] == kind and selected(e[3], q)]
                    if st.events:
                        cursor = max(cursor, st.events[-1][0])
                for e in evs:
                    self.chunk({"type": e[2], "object": e[3]})
                now = time.time()
                if now >= end:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                if bookmarks and now >= next_bookmark:
                    with st.cv:
                        brv = st.rv
                    self.chunk({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": api,
                        "metadata": {"resourceVersion": str(brv)}}})
                    next_bookmark = now + self.server.bookmark_interval
        except (ConnectionAbortedError, BrokenPipeError, ConnectionResetError, ssl.SSLError,
                OSError):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def do_POST(self):
        """Events: POST /api/v1/namespaces/NS/events, kept for /_test/events."""
        if not self.gate():
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
        if parts[:3] != ["api", "v1", "namespaces"] or len(parts) != 5 or parts[4] != "events":
            self.send_json(404, status(404, "NotFound", "not found"))
            return
        try:
            ev = json.loads(body)
        except ValueError as e:
            self.send_json(400, status(400, "BadRequest", str(e)))
            return
        if ev.get("kind") != "Event" or ev.get("metadata", {}).get("namespace") != parts[3] \
                or ev.get("involvedObject", {}).get("namespace") != parts[3]:
            self.send_json(422, status(422, "Invalid", "namespace mismatch"))
            return
        st = self.server.store
        with st.cv:
            ev["metadata"]["name"] = ev["metadata"].get("generateName", "") + uuid.uuid4().hex[:5]
            st.posted_events.append(ev)
        self.send_json(201, ev)

    def do_PATCH(self):
        if not self.gate():
            return
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
        # apis/networking.k8s.io/v1/namespaces/NS/ingresses/NAME/status
        if (len(parts) != 8 or parts[:3] != ["apis", "networking.k8s.io", "v1"]
                or parts[3] != "namespaces" or parts[5] != "ingresses" or parts[7] != "status"):
            self.send_json(404, status(404, "NotFound", "not found"))
            return
        if self.headers.get("Content-Type") != "application/merge-patch+json":
            self.send_json(415, status(415, "UnsupportedMediaType", "the body of the request "
                                       "was in an unknown format"))
            return
        try:
            patch = json.loads(body)
        except ValueError as e:
            self.send_json(400, status(400, "BadRequest", str(e)))
            return
        obj = self.server.store.patch_status(urllib.parse.unquote(parts[4]),
                                             urllib.parse.unquote(parts[6]), patch)
        if obj is None:
            self.send_json(404, status(404, "NotFound", 'ingresses.networking.k8s.io "%s" not '
                                       'found' % parts[6]))
            return
        self.send_json(200, obj)


class Control(JsonHandler):
    def reply(self, code, body):
        self.send_json(code, body)

    def do_GET(self):
        st = self.server.store
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with st.cv:
            if u.path == "/_test/patches":
                return self.reply(200, st.patches)
            if u.path == "/_test/requests":
                return self.reply(200, st.requests)
            if u.path == "/_test/events":
                return self.reply(200, st.posted_events)
            if u.path == "/_test/object":
                ns = q.get("namespace", "default" if KINDS[q["kind"]][2] else "")
                o = st.objects[q["kind"]].get((ns, q["name"]))
                return self.reply(200 if o else 404, o or {})
        self.reply(404, {})

    def do_POST(self):
        st = self.server.store
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            if u.path == "/_test/apply":
                docs = load_docs(body.decode())
                out = [st.apply(d)["metadata"]["resourceVersion"] for d in docs]
                return self.reply(200, {"applied": len(out)})
            if u.path == "/_test/delete":
                kind = q["kind"]
                ns = q.get("namespace", "default" if KINDS[kind][2] else "")
                return self.reply(200 if st.delete(kind, ns, q["name"]) else 404, {})
            if u.path == "/_test/drop":
                with st.cv:
                    st.drop_gen += 1
                    st.cv.notify_all()
                return self.reply(200, {})
            if u.path == "/_test/compact":
                st.compact()
                return self.reply(200, {})
            if u.path == "/_test/down":
                with st.cv:
                    st.down_until = time.time() + float(q.get("seconds", "3"))
                    st.drop_gen += 1
                    st.cv.notify_all()
                return self.reply(200, {})
            if u.path == "/_test/fail":
                with st.cv:
                    st.fail_count = int(q.get("count", "1"))
                    st.fail_code = int(q.get("code", "500"))
                return self.reply(200, {})
        except (ValueError, KeyError) as e:
            return self.reply(400, {"error": str(e)})
        self.reply(404, {})


def load_docs(text):
    text = text.strip()
    if text.startswith("{") or text.startswith("["):
        docs = json.loads(text)
    else:
        docs = list(yaml.safe_load_all(text))
    if isinstance(docs, dict):
        docs = [docs]
    out = []
    for d in docs:
        if d and d.get("kind") == "List":
            out.extend(d.get("items", []))
        elif d:
            out.append(d)
    return out


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class TLSServer(Server):
    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ctx:
            sock.settimeout(10)
            try:
                sock = self.ctx.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                sock.close()
                raise
            sock.settimeout(None)
        return sock, addr

    def handle_error(self, request, client_address):
        pass


def start(port, control_port, cert=None, key=None, client_ca=None, token=None,
          bookmark_interval=1.0, host="127.0.0.1"):
    """Start both listeners in threads; returns (store, api server, control server)."""
    ctx = None
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if client_ca:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
    store = Store()
    api = TLSServer((host, port), Api, ctx)
    api.store = store
    api.token = token
    api.bookmark_interval = bookmark_interval
    api.stopping = False
    ctl = Server(("127.0.0.1", control_port), Control)
    ctl.store = store
    for s in (api, ctl):
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
    return store, api, ctl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca")
    ap.add_argument("--token")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    a = ap.parse_args()
    start(a.port, a.control_port, a.cert, a.key, a.client_ca, a.token, a.bookmark_interval,
          a.host)
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
