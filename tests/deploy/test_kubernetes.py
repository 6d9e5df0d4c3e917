#!/usr/bin/env python3
"""The manifests in deploy/kubernetes fit together and fit the configuration they ship.

- Every YAML document parses and names its apiVersion, kind and metadata.name.
- The ConfigMap's keys are valid ConfigMap keys; the DaemonSet's config volume maps each key
  it lists to a path inside the mount; written out as the kubelet would mount it, the
  configuration passes `sluice --check-config` from the path the container's arguments name
  (so its @include finds the profile where the volume puts it), and the profile is the one
  shipped in drivers-config/.
- The DaemonSet's resources match the configuration: CPU integral and at least one per lcore
  (workers and the management lcore), hugepages at least the sum docs/kubernetes.md gives for
  the configured limits, requests equal to limits.
- Metrics are reachable: metrics.listen is not a loopback address, its port is the named
  containerPort "metrics", the Prometheus annotations and the probes use it.
- Every volumeMount names a volume and every volume is mounted; the namespace and the
  ServiceAccount the DaemonSet uses are declared; the image tag is the project's version.

usage: test_kubernetes.py SLUICE SOURCE_ROOT VERSION
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

import yaml

KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


def strip_comments(text):
    """libconfig text without # and // comments (outside strings)."""
    out = []
    for line in text.splitlines():
        s, in_str, i = [], False, 0
        while i < len(line):
            c = line[i]
            if c == '"' and (i == 0 or line[i - 1] != "\\"):
                in_str = not in_str
            if not in_str and (c == "#" or line.startswith("//", i)):
                break
            s.append(c)
            i += 1
        out.append("".join(s))
    return "\n".join(out)


def group(text, name):
    m = re.search(r"(?<![\w.])" + name + r"\s*[=:]\s*\{(.*?)\}", text, re.S)
    return m.group(1) if m else ""


def field(text, name, default=None):
    m = re.search(r"(?<![\w.])" + name + r"\s*[=:]\s*([^;]+);", text)
    return m.group(1).strip() if m else default


def quantity(q):
    """A Kubernetes quantity in bytes (or cores for plain numbers)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|m)?", str(q))
    if not m:
        raise ValueError("quantity %r" % q)
    mult = {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
            "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "m": 0.001}[m.group(2)]
    return float(m.group(1)) * mult


def main():
    sluice, root, version = sys.argv[1], sys.argv[2], sys.argv[3]
    docs = []
    for path in sorted(glob.glob(os.path.join(root, "deploy", "kubernetes", "*.yaml"))):
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if d is None:
                    continue
                name = os.path.basename(path)
                meta = d.get("metadata", {})
                if not (d.get("apiVersion") and d.get("kind") and meta.get("name")):
                    fail("%s: a document without apiVersion, kind or metadata.name" % name)
                docs.append((name, d))
    ok("%d documents parse" % len(docs))

    def find(kind, name):
        got = [d for _, d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
        if len(got) != 1:
            fail("expected one %s %s, found %d" % (kind, name, len(got)))
            return {}
        return got[0]

    ds = find("DaemonSet", "sluice")
    ns = ds["metadata"].get("namespace")
    find("Namespace", ns)
    pod = ds["spec"]["template"]
    spec = pod["spec"]
    find("ServiceAccount", spec["serviceAccountName"])
    [ctr] = spec["containers"]

    # ---- volumes and mounts -------------------------------------------------------------------
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = ctr.get("volumeMounts", [])
    for m in mounts:
        if m["name"] not in volumes:
            fail("volumeMount %s (%s) names no volume" % (m["name"], m["mountPath"]))
    unmounted = set(volumes) - {m["name"] for m in mounts}
    if unmounted:
        fail("volumes never mounted: %s" % sorted(unmounted))
    ok("every volumeMount names a volume (%s)" % ", ".join(sorted(volumes)))

    # ---- the ConfigMap, mounted as the kubelet would ---------------------------------------------
    cfg_vols = [v for v in volumes.values() if "configMap" in v]
    if len(cfg_vols) != 1:
        fail("expected one configMap volume")
        return
    cv = cfg_vols[0]
    cm = find("ConfigMap", cv["configMap"]["name"])
    if cm["metadata"].get("namespace") != ns:
        fail("the ConfigMap is in namespace %s, the DaemonSet in %s" %
             (cm["metadata"].get("namespace"), ns))
    data = cm.get("data", {})
    for k in data:
        if not KEY_RE.match(k) or len(k) > 253:
            fail("ConfigMap key %r is not a valid key ([-._a-zA-Z0-9]+)" % k)
    ok("ConfigMap keys are valid: %s" % ", ".join(data))
    items = cv["configMap"].get("items") or [{"key": k, "path": k} for k in data]
    [mount] = [m for m in mounts if m["name"] == cv["name"]]
    args = ctr.get("args", [])
    if "-c" not in args:
        fail("the container's args name no configuration (-c FILE)")
        return
    conf_path = args[args.index("-c") + 1]
    rel = os.path.relpath(conf_path, mount["mountPath"])
    if rel.startswith(".."):
        fail("-c %s is outside the config mount %s" % (conf_path, mount["mountPath"]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for it in items:
            if it["key"] not in data:
                fail("volume item key %s is not in the ConfigMap" % it["key"])
                continue
            p = os.path.normpath(it["path"])
            if p.startswith("..") or os.path.isabs(p):
                fail("volume item path %s leaves the mount" % it["path"])
                continue
            os.makedirs(os.path.join(tmp, os.path.dirname(p)), exist_ok=True)
            with open(os.path.join(tmp, p), "w") as f:
                f.write(data[it["key"]])
            if p.startswith("drivers-config" + os.sep):
                shipped = os.path.join(root, p)
                if not os.path.exists(shipped) or open(shipped).read() != data[it["key"]]:
                    fail("%s in the ConfigMap differs from the shipped %s" % (it["key"], p))
        conf_file = os.path.join(tmp, rel)
        r = subprocess.run([sluice, "--check-config", conf_file], capture_output=True,
                           text=True, cwd="/")
        if r.returncode != 0:
            fail("sluice --check-config on the ConfigMap as mounted:\n" + r.stdout + r.stderr)
            return
        ok("the ConfigMap as mounted passes check-config: " + r.stdout.strip())
        m = re.search(r"(\d+) workers?", r.stdout)
        checked_workers = int(m.group(1))
        with open(conf_file) as f:
            conf = strip_comments(f.read())

    # ---- the configuration's figures ------------------------------------------------------------
    lc = group(conf, "lcores")
    workers = re.findall(r"\d+", field(lc, "workers", "[]"))
    if len(workers) != checked_workers:
        fail("read %d workers, check-config says %d" % (len(workers), checked_workers))
    lcores = len(workers) + 1  # and the management lcore
    lim = group(conf, "limits")

    def limit(name, default):
        return int(field(lim, name, str(default)))
    mbufs, flows = limit("mbufs", 16383), limit("max_flows", 65536)
    bufs, buf = limit("request_buffers", 4096), limit("request_buffer", 16384)
    # docs/kubernetes.md: per worker mbufs x 2.5 KiB + max_flows x 0.5 KiB +
    # request_buffers x (request_buffer + 0.5 KiB) + 4 MiB; 8 MiB for the process.
    per_worker = mbufs * 2560 + flows * 512 + bufs * (buf + 512) + (4 << 20)
    hugepages_need = len(workers) * per_worker + (8 << 20)
    listen = field(group(conf, "metrics"), "listen", '"127.0.0.1:9180"').strip('"')
    host, port = listen.rsplit(":", 1)
    port = int(port)

    # ---- resources ------------------------------------------------------------------------------
    res = ctr.get("resources", {})
    req, lim_ = res.get("requests", {}), res.get("limits", {})
    for k in set(req) | set(lim_):
        if req.get(k) != lim_.get(k):
            fail("resources: request and limit of %s differ (%s, %s)" %
                 (k, req.get(k), lim_.get(k)))
    cpu = quantity(req.get("cpu", "0"))
    if cpu != int(cpu):
        fail("cpu %s is not a whole number of CPUs" % req.get("cpu"))
    if cpu < lcores:
        fail("cpu %s is less than the configuration's %d lcores" % (req.get("cpu"), lcores))
    ok("cpu %s for %d lcores (%d workers and the management lcore)" %
       (req.get("cpu"), lcores, len(workers)))
    hp = quantity(req.get("hugepages-2Mi", "0"))
    if hp < hugepages_need:
        fail("hugepages-2Mi %s is below the %d MiB the configuration needs" %
             (req.get("hugepages-2Mi"), hugepages_need >> 20))
    ok("hugepages-2Mi %s covers %d MiB (%d workers: %d mbufs, %d flows, %d x %d B buffers)" %
       (req.get("hugepages-2Mi"), hugepages_need >> 20, len(workers), mbufs, flows, bufs, buf))
    if "memory" not in req:
        fail("no memory request")

    # ---- metrics --------------------------------------------------------------------------------
    if host.startswith("127.") or host in ("localhost", "::1"):
        fail("metrics.listen %s is loopback only; Prometheus could not scrape it" % listen)
    ports = {p.get("name"): p for p in ctr.get("ports", [])}
    if "metrics" not in ports:
        fail("no containerPort named metrics")
    elif ports["metrics"]["containerPort"] != port:
        fail("containerPort metrics is %s, metrics.listen's port %d" %
             (ports["metrics"]["containerPort"], port))
    ann = pod.get("metadata", {}).get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(port):
        fail("prometheus.io annotations %s do not scrape port %d" % (ann, port))
    for probe in ("readinessProbe", "livenessProbe"):
        pp = ctr.get(probe, {}).get("httpGet", {}).get("port")
        if pp not in ("metrics", port):
            fail("%s port %s is not the metrics port" % (probe, pp))
    if not spec.get("hostNetwork"):
        fail("the metrics address reasoning assumes hostNetwork")
    ok("metrics on %s: containerPort metrics, annotations and probes agree" % listen)

    image = ctr.get("image", "")
    if image.rsplit(":", 1)[-1] != version:
        fail("image %s is not tagged %s (the Containerfile's documented tag)" % (image, version))

    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
    sys.exit(1 if failures else 0)
