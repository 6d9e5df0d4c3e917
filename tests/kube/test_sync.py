#!/usr/bin/env python3
"""Integration tests of the Kubernetes sync against the test API server (apiserver.py).

Each scenario starts its own API server (HTTPS, its own CA) and its own
`sluice route --kubeconfig FILE --watch`, changes objects through the server and asserts on what
the route checker answers — the same lib/kube client and compile the daemon runs.

usage: test_sync.py SLUICE SCENARIO
Scenarios are independent; meson runs each as its own test.
"""
import base64
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver  # noqa: E402

SLUICE = None
TOKEN = "sluice-test-token"


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    def run(*a):
        subprocess.run(["openssl"] + list(a), cwd=d, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=sluice-test-ca")
    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=kube-apiserver")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.cnf")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=system:serviceaccount:sluice:sluice")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "client.crt", "-days", "2")


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfig(d, port, user):
    path = os.path.join(d, "kubeconfig")
    with open(path, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
current-context: test
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority-data: {b64(os.path.join(d, "ca.crt"))}
contexts:
- name: test
  context: {{cluster: test, user: sluice}}
users:
- name: sluice
  user:
{user}
""")
    return path


# ---- objects -------------------------------------------------------------------------------

def ingress_class(name="sluice", controller="sluice.dev/ingress-controller", default=False):
    meta = {"name": name}
    if default:
        meta["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {"kind": "IngressClass", "metadata": meta, "spec": {"controller": controller}}


def service(name, ns="default", port=80):
    return {"kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": port, "targetPort": 8080,
                                "protocol": "TCP"}]}}


def slice_(svc, addrs, ns="default", name=None, ready=True, serving=None, terminating=False):
    if serving is None:
        serving = ready
    return {"kind": "EndpointSlice",
            "metadata": {"name": name or svc + "-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [a], "conditions": {
                "ready": ready, "serving": serving, "terminating": terminating}}
                for a in addrs]}


def ingress(name, host, path, svc, ns="default", cls="sluice", path_type="Prefix"):
    spec = {"rules": [{"host": host, "http": {"paths": [{
        "path": path, "pathType": path_type,
        "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}
    if cls:
        spec["ingressClassName"] = cls
    return {"kind": "Ingress", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def tls_secret(name, d, cert, ns="default", type_="kubernetes.io/tls"):
    """A Secret with the PEM files d/cert.crt and d/cert.key."""
    return {"kind": "Secret", "type": type_, "metadata": {"name": name, "namespace": ns},
            "data": {"tls.crt": b64(os.path.join(d, cert + ".crt")),
                     "tls.key": b64(os.path.join(d, cert + ".key"))}}


def site_cert(d, name, host):
    """A self-signed ECDSA certificate for host: d/name.crt and d/name.key."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key", "-out",
                    name + ".crt", "-days", "2", "-subj", "/CN=" + host, "-addext",
                    "subjectAltName=DNS:" + host], cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---- the harness ---------------------------------------------------------------------------

class Env:
    def __init__(self, user_mode="token"):
        self.dir = tempfile.mkdtemp(prefix="sluice-kube-")
        make_pki(self.dir)
        self.port = free_port()
        self.store, self.api, self.ctl = apiserver.start(
            self.port, 0, cert=os.path.join(self.dir, "server.crt"),
            key=os.path.join(self.dir, "server.key"),
            client_ca=os.path.join(self.dir, "ca.crt"), token=TOKEN, bookmark_interval=0.5)
        if user_mode == "token":
            user = f"    token: {TOKEN}"
        elif user_mode == "tokenfile":
            with open(os.path.join(self.dir, "token"), "w") as f:
                f.write(TOKEN + "\n")
            user = "    tokenFile: token"  # relative to the kubeconfig's folder
        elif user_mode == "cert":
            user = (f"    client-certificate-data: {b64(os.path.join(self.dir, 'client.crt'))}\n"
                    f"    client-key-data: {b64(os.path.join(self.dir, 'client.key'))}")
        else:
            user = "    token: wrong-token"
        self.kubeconfig = write_kubeconfig(self.dir, self.port, user)
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "stderr")

    def apply(self, *objs):
        for o in objs:
            self.store.apply(o)

    def delete(self, kind, name, ns="default"):
        if self.store.delete(kind, ns if kind != "IngressClass" else "", name) is None:
            fail(f"delete {kind} {ns}/{name}: not there")

    def start_watch(self, extra=()):
        self.err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([SLUICE, "route", "--kubeconfig", self.kubeconfig,
                                      "--watch"] + list(extra),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, bufsize=1)

    def ask(self, host, path, timeout=15):
        self.proc.stdin.write(f"{host} {path}\n")
        self.proc.stdin.flush()
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            fail(f"no answer for {host} {path} within {timeout} s; stderr:\n" + self.stderr())
        line = self.proc.stdout.readline()
        if not line:
            fail("the route checker exited; stderr:\n" + self.stderr())
        return json.loads(line)

    def eventually(self, host, path, want, what, timeout=10):
        """Ask until want(answer) holds; the change travels list/watch → compile."""
        until = time.time() + timeout
        a = None
        while time.time() < until:
            a = self.ask(host, path)
            if want(a):
                return a
            time.sleep(0.1)
        fail(f"{what}: {host} {path} answered {json.dumps(a)}\nstderr:\n" + self.stderr())

    def stderr(self):
        try:
            with open(self.stderr_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def requests(self, prefix):
        with self.store.cv:
            return [r for r in self.store.requests if r.startswith(prefix)]

    def close(self):
        if self.proc:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.api.stopping = True
        self.api.shutdown()
        self.ctl.shutdown()
        self.api.server_close()
        self.ctl.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


def endpoints(a):
    return sorted(a.get("endpoints", []))


def to(svc, eps=None):
    return lambda a: a.get("status") == 200 and a.get("service") == svc and (
        eps is None or endpoints(a) == sorted(eps))


def status_is(code):
    return lambda a: a.get("status") == code


def base(env):
    env.apply(ingress_class(), service("web"), slice_("web", ["198.18.1.10"]),
              ingress("shop", "shop.example", "/", "web"))


ING_LIST = "GET /apis/networking.k8s.io/v1/ingresses?limit="
ING_WATCH = "GET /apis/networking.k8s.io/v1/ingresses?watch=1"


# ---- scenarios -----------------------------------------------------------------------------

def t_list_and_route(env):
    """One-shot: list from the API server and answer lines (no --watch), like --manifests."""
    base(env)
    env.apply(ingress("other", "other.example", "/", "web", cls="nginx"))
    out = subprocess.run([SLUICE, "route", "--kubeconfig", env.kubeconfig],
                         input="shop.example /cart\nother.example /\nnone.example /\n",
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        fail("route --kubeconfig exited %d: %s" % (out.returncode, out.stderr))
    ans = [json.loads(l) for l in out.stdout.splitlines()]
    if not to("web", ["198.18.1.10:8080"])(ans[0]):
        fail("shop.example /cart: " + json.dumps(ans[0]))
    if ans[1].get("status") != 404 or ans[2].get("status") != 404:
        fail("other class or unknown host should be 404: %s" % out.stdout)


def t_ingress_add_change_delete(env):
    base(env)
    env.apply(service("api"), slice_("api", ["198.18.1.20"]))
    env.start_watch()
    env.eventually("shop.example", "/", to("web"), "initial")
    env.eventually("api.example", "/v1", status_is(404), "before add")
    env.apply(ingress("api", "api.example", "/v1", "api"))
    env.eventually("api.example", "/v1/users", to("api", ["198.18.1.20:8080"]), "add")
    env.apply(ingress("api", "api.example", "/v2", "api"))
    env.eventually("api.example", "/v1/users", status_is(404), "change: old path gone")
    env.eventually("api.example", "/v2", to("api"), "change: new path")
    env.delete("Ingress", "api")
    env.eventually("api.example", "/v2", status_is(404), "delete")
    env.eventually("shop.example", "/", to("web"), "untouched Ingress")


def t_endpointslice_scale(env):
    base(env)
    env.start_watch()
    env.eventually("shop.example", "/", to("web", ["198.18.1.10:8080"]), "one pod")
    env.apply(slice_("web", ["198.18.1.10", "198.18.1.11", "198.18.1.12"]))
    env.eventually("shop.example", "/", to("web", ["198.18.1.10:8080", "198.18.1.11:8080",
                                                   "198.18.1.12:8080"]), "scale up")
    # a second slice of the same Service adds its endpoints
    env.apply(slice_("web", ["198.18.1.13"], name="web-def"))
    env.eventually("shop.example", "/", lambda a: len(endpoints(a)) == 4, "second slice")
    env.apply(slice_("web", ["198.18.1.12"]))
    env.delete("EndpointSlice", "web-def")
    env.eventually("shop.example", "/", to("web", ["198.18.1.12:8080"]), "scale down")
    # a rollout: the only pod is terminating but still serving, the new one not ready yet
    env.apply(slice_("web", ["198.18.1.12"], ready=False, serving=True, terminating=True))
    env.apply(slice_("web", ["198.18.1.14"], name="web-new", ready=False))
    env.eventually("shop.example", "/", to("web", ["198.18.1.12:8080"]),
                   "none ready: serving (terminating) pods are used")
    env.apply(slice_("web", ["198.18.1.14"], name="web-new"))
    env.eventually("shop.example", "/", to("web", ["198.18.1.14:8080"]),
                   "a ready pod wins over a terminating one")
    env.apply(slice_("web", ["198.18.1.14"], name="web-new", ready=False))
    env.apply(slice_("web", ["198.18.1.12"], ready=False))
    env.eventually("shop.example", "/", lambda a: a.get("status") == 200 and endpoints(a) == [],
                   "no ready or serving pod: the route stays, with no endpoints (503)")


def t_ingressclass_switch(env):
    base(env)
    env.start_watch()
    env.eventually("shop.example", "/", to("web"), "ours")
    # the Ingress moves to another controller's class
    env.apply(ingress_class("nginx", "k8s.io/ingress-nginx"))
    env.apply(ingress("shop", "shop.example", "/", "web", cls="nginx"))
    env.eventually("shop.example", "/", status_is(404), "moved to nginx")
    # the class "nginx" is handed to our controller: the Ingress is ours again
    env.apply(ingress_class("nginx", "sluice.dev/ingress-controller"))
    env.eventually("shop.example", "/", to("web"), "class now ours")
    # a class-less Ingress follows the default class
    env.apply(ingress("plain", "plain.example", "/", "web", cls=None))
    env.eventually("plain.example", "/", status_is(404), "no default class")
    env.apply(ingress_class("sluice", default=True))
    env.eventually("plain.example", "/", to("web"), "default class")


def t_watch_dropped(env):
    base(env)
    env.start_watch()
    env.eventually("shop.example", "/", to("web"), "initial")
    lists = len(env.requests(ING_LIST))
    for i in range(3):
        with env.store.cv:
            env.store.drop_gen += 1
            env.store.cv.notify_all()
        env.apply(ingress(f"d{i}", f"d{i}.example", "/", "web"))
        env.eventually(f"d{i}.example", "/", to("web"), f"change after drop {i}")
    if len(env.requests(ING_LIST)) != lists:
        fail("a dropped watch should resume from its resourceVersion, not relist: %s"
             % env.requests("GET /apis/networking.k8s.io/v1/ingresses"))
    resumed = [r for r in env.requests(ING_WATCH) if "resourceVersion=" in r]
    if len(resumed) < 4:
        fail("expected resumed watches: %s" % resumed)
    if "dropped" not in env.stderr():
        fail("the drop should be logged: " + env.stderr())


def t_gone_relist(env):
    base(env)
    env.apply(ingress("old", "old.example", "/", "web"))
    env.start_watch()
    env.eventually("old.example", "/", to("web"), "initial")
    lists = len(env.requests(ING_LIST))
    # While the client is away, history is compacted and objects change: only a relist can
    # notice that "old" was deleted.
    with env.store.cv:
        env.store.down_until = time.time() + 1.0
        env.store.drop_gen += 1
        env.store.cv.notify_all()
    env.store.delete("Ingress", "default", "old")
    env.apply(ingress("new", "new.example", "/", "web"))
    env.store.compact()
    env.eventually("new.example", "/", to("web"), "object added before the 410")
    env.eventually("old.example", "/", status_is(404), "object deleted while compacted")
    if len(env.requests(ING_LIST)) <= lists:
        fail("410 Gone should relist")
    if "410 Gone" not in env.stderr():
        fail("the relist should be logged: " + env.stderr())


def t_api_down(env):
    base(env)
    env.start_watch()
    env.eventually("shop.example", "/", to("web"), "initial")
    with env.store.cv:
        env.store.down_until = time.time() + 4.0
        env.store.drop_gen += 1
        env.store.cv.notify_all()
    time.sleep(1.0)
    env.apply(ingress("late", "late.example", "/", "web"))  # written while the API is away
    # answers keep coming from the last good state while the API is down
    env.eventually("shop.example", "/", to("web"), "during the outage")
    env.eventually("late.example", "/", to("web"), "after the outage", timeout=20)
    errs = env.stderr()
    if "retrying in" not in errs:
        fail("the outage should be logged with its back-off: " + errs)
    # back-off: between the first failure and recovery there were a bounded number of tries
    watches = env.requests(ING_WATCH)
    if len(watches) > 30:
        fail("back-off did not slow retries: %d watch requests" % len(watches))


def t_errors_and_pages(env):
    """500s from the API, then a list that needs several pages."""
    env.apply(ingress_class(), service("web"), slice_("web", ["198.18.1.10"]))
    for i in range(1203):
        env.store.apply(ingress(f"i{i}", f"h{i}.example", "/", "web"))
    with env.store.cv:
        env.store.fail_count = 3
        env.store.fail_code = 500
    env.start_watch()
    env.eventually("h0.example", "/", to("web"), "first page")
    env.eventually("h1202.example", "/x", to("web"), "last page")
    pages = [r for r in env.requests(ING_LIST) if "continue=" in r]
    if len(pages) < 2:
        fail("expected paged lists (limit 500): %s" % env.requests(ING_LIST))
    if "HTTP 500" not in env.stderr():
        fail("injected 500s should be logged: " + env.stderr())


def t_token_file(env):
    base(env)
    env.start_watch()
    env.eventually("shop.example", "/", to("web"), "token from tokenFile")


def t_client_cert(env):
    base(env)
    env.start_watch()
    env.eventually("shop.example", "/", to("web"), "client certificate")


def t_unauthorized(env):
    base(env)
    out = subprocess.run([SLUICE, "route", "--kubeconfig", env.kubeconfig, "--timeout", "3"],
                         input="shop.example /\n", capture_output=True, text=True, timeout=60)
    if out.returncode == 0:
        fail("a wrong token must not produce answers")
    if "HTTP 401" not in out.stderr:
        fail("the 401 should be reported: " + out.stderr)


def t_in_cluster(env):
    """The service account at its standard path (a private mount namespace puts it there)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("SKIP: needs root and unshare for a private mount namespace")
        sys.exit(77)
    base(env)
    sa = os.path.join(env.dir, "sa")
    os.makedirs(sa)
    shutil.copy(os.path.join(env.dir, "ca.crt"), os.path.join(sa, "ca.crt"))
    with open(os.path.join(sa, "token"), "w") as f:
        f.write(TOKEN)
    script = ("set -e; d=/var/run/secrets/kubernetes.io/serviceaccount; mkdir -p $d; "
              f"mount --bind {sa} $d; exec {SLUICE} route --in-cluster")
    envv = dict(os.environ, KUBERNETES_SERVICE_HOST="127.0.0.1",
                KUBERNETES_SERVICE_PORT=str(env.port))
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                         input="shop.example /\n", capture_output=True, text=True, timeout=60,
                         env=envv)
    if out.returncode != 0:
        fail("route --in-cluster exited %d: %s" % (out.returncode, out.stderr))
    a = json.loads(out.stdout.splitlines()[0])
    if not to("web")(a):
        fail("in-cluster answer: " + out.stdout)


def t_rbac_covers_the_client(env):
    """deploy/kubernetes/rbac.yaml grants every request the gateway makes."""
    import yaml
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(root, "deploy", "kubernetes", "rbac.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    granted = set()
    for r in role["rules"]:
        for g in r["apiGroups"]:
            for res in r["resources"]:
                for v in r["verbs"]:
                    granted.add((g, res, v))
    need = [("networking.k8s.io", "ingresses", v) for v in ("list", "watch")] + \
        [("networking.k8s.io", "ingressclasses", v) for v in ("list", "watch")] + \
        [("", "services", v) for v in ("list", "watch")] + \
        [("discovery.k8s.io", "endpointslices", v) for v in ("list", "watch")] + \
        [("", "secrets", v) for v in ("list", "watch")] + \
        [("", "events", "create")] + \
        [("networking.k8s.io", "ingresses/status", "patch")]
    missing = [n for n in need if n not in granted]
    if missing:
        fail("rbac.yaml lacks %s" % missing)
    # and the client asks for exactly those resources
    base(env)
    subprocess.run([SLUICE, "route", "--kubeconfig", env.kubeconfig], input="", text=True,
                   capture_output=True, timeout=60, check=True)
    paths = {r.split(" ")[1].split("?")[0] for r in env.requests("GET ")}
    want = {p for _, p, _ in apiserver.KINDS.values()}
    if paths != want:
        fail("the client read %s, expected %s" % (sorted(paths), sorted(want)))


def t_tls_secrets(env):
    """spec.tls Secrets through the API: only kubernetes.io/tls Secrets are read (a field
    selector), a Secret that appears, rotates or breaks reaches the certificates without a
    restart, and the other hosts keep theirs."""
    base(env)
    site_cert(env.dir, "shop", "shop.example")
    site_cert(env.dir, "api", "api.example")
    ing = ingress("shop", "shop.example", "/", "web")
    ing["spec"]["tls"] = [{"hosts": ["shop.example"], "secretName": "shop-tls"},
                          {"hosts": ["api.example"], "secretName": "api-tls"}]
    env.apply(ing, tls_secret("api-tls", env.dir, "api"),
              tls_secret("opaque", env.dir, "api", type_="Opaque"))
    env.start_watch(["--certs"])
    cert = lambda want: lambda a: a.get("certificate", {}).get("source") == want
    env.eventually("shop.example", "/", cert("self-signed"), "a missing Secret: the default")
    env.eventually("api.example", "/", cert("default/api-tls"), "api.example's Secret")
    env.apply(tls_secret("shop-tls", env.dir, "shop"))
    env.eventually("shop.example", "/", cert("default/shop-tls"), "a Secret that appears")
    before = env.ask("shop.example", "/")["certificate"]["not_after"]
    time.sleep(1.1)
    site_cert(env.dir, "shop", "shop.example")  # rotated: a later expiry
    env.apply(tls_secret("shop-tls", env.dir, "shop"))
    env.eventually("shop.example", "/", lambda a: a["certificate"]["not_after"] > before,
                   "a rotated Secret")
    broken = tls_secret("shop-tls", env.dir, "shop")
    broken["data"]["tls.key"] = b64(os.path.join(env.dir, "api.key"))
    env.apply(broken)
    env.eventually("shop.example", "/", cert("self-signed"), "a broken Secret: the default")
    a = env.ask("api.example", "/")
    if not cert("default/api-tls")(a):
        fail("api.example lost its certificate when shop-tls broke: " + json.dumps(a))
    if "Secret default/shop-tls (spec.tls[0] of Ingress default/shop): tls.key does not " \
            "match the certificate in tls.crt" not in env.stderr():
        fail("the broken Secret was not reported:\n" + env.stderr())
    reads = env.requests("GET /api/v1/secrets")
    if not reads or any("fieldSelector=type%3Dkubernetes.io%2Ftls" not in r for r in reads):
        fail("Secrets read without the type selector: %s" % reads)


SCENARIOS = {
    "tls_secrets": ("token", t_tls_secrets),
    "list_and_route": ("token", t_list_and_route),
    "ingress_add_change_delete": ("token", t_ingress_add_change_delete),
    "endpointslice_scale": ("token", t_endpointslice_scale),
    "ingressclass_switch": ("token", t_ingressclass_switch),
    "watch_dropped": ("token", t_watch_dropped),
    "gone_relist": ("token", t_gone_relist),
    "api_down": ("token", t_api_down),
    "errors_and_pages": ("token", t_errors_and_pages),
    "token_file": ("tokenfile", t_token_file),
    "client_cert": ("cert", t_client_cert),
    "unauthorized": ("bad", t_unauthorized),
    "in_cluster": ("token", t_in_cluster),
    "rbac_covers_the_client": ("token", t_rbac_covers_the_client),
}


def main():
    global SLUICE
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print("usage: test_sync.py SLUICE SCENARIO\nscenarios: " + " ".join(SCENARIOS))
        sys.exit(2)
    SLUICE = os.path.abspath(sys.argv[1])
    mode, fn = SCENARIOS[sys.argv[2]]
    env = Env(mode)
    try:
        fn(env)
    finally:
        env.close()
    print("ok " + sys.argv[2])


if __name__ == "__main__":
    main()
