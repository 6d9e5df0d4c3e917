#!/usr/bin/env python3
"""deploy/Containerfile's runtime stage installs what the binary needs, and its build stage
configures from the files it copies. The image itself is not built here (no registry).

- Every shared library the binary links directly (readelf NEEDED) belongs to a package the
  runtime stage's apt-get install names, or to the base image (Priority: required).
- Every library those load in turn (ldd) belongs to a package those packages depend on,
  directly or not (Depends and Pre-Depends, as dpkg records them here).
- The DPDK drivers EAL loads from its plugin directory: the PCI and virtual-device buses, the
  ring mempool, and the driver of every profile in drivers-config/, each from a package the
  runtime stage names, with their libraries covered the same way.
- Every package the build stage installs is one scripts/setup.sh installs too.
- The build stage's COPY lines, replayed into an empty directory, are enough for its
  `meson setup` line to configure, and hold every source file meson install takes.

Sanitizer runtimes (a sanitizer build of the tests) are not part of the image and are left out.

usage: test_containerfile.py SLUICE SOURCE_ROOT MESON
"""
import functools
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


def stages(path):
    """[(from, [instruction lines])] with continuation lines joined."""
    text = open(path).read()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append((line.split()[1], []))
        elif out:
            out[-1][1].append(line)
    return out


def apt_packages(lines):
    pkgs = []
    for line in lines:
        if not line.upper().startswith("RUN "):
            continue
        for cmd in re.split(r"&&|;", line[4:]):
            words = shlex.split(cmd)
            words = [w for w in words if "=" not in w or w.startswith("-")]  # VAR=... prefixes
            if words[:2] == ["apt-get", "install"]:
                pkgs += [w for w in words[2:] if not w.startswith("-")]
    return pkgs


@functools.lru_cache(maxsize=None)
def owner(path):
    """The Debian package that ships a file (merged /usr: try both spellings)."""
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        if p.startswith("/usr/"):
            cands.append(p[4:])
        else:
            cands.append("/usr" + p)
    for p in cands:
        r = subprocess.run(["dpkg-query", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].split(",")[0].strip()
    return None


@functools.lru_cache(maxsize=None)
def ldd(path):
    """{soname: resolved path} of everything path loads."""
    r = subprocess.run(["ldd", path], capture_output=True, text=True, check=True)
    libs = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+) \(", line)
        if m:
            libs[m.group(1)] = m.group(2)
        elif "not found" in line:
            fail("%s: %s" % (path, line.strip()))
    return libs


def needed(path):
    r = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)


def installed():
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Priority}\t${Essential}\t"
                        "${Depends}, ${Pre-Depends}\t${Provides}\t${db:Status-Abbrev}\n"],
                       capture_output=True, text=True, check=True)
    pkgs, provides = {}, {}
    for line in r.stdout.splitlines():
        name, prio, ess, deps, prov, status = line.split("\t")
        if not status.startswith("ii"):
            continue
        alts = []
        for d in deps.split(","):
            names = [re.sub(r"[:\s(].*", "", a.strip()) for a in d.split("|")]
            alts.append([n for n in names if n])
        pkgs[name] = {"required": prio == "required" or ess == "yes", "deps": alts}
        for p in prov.split(","):
            p = re.sub(r"[\s(].*", "", p.strip())
            if p:
                provides.setdefault(p, []).append(name)
    return pkgs, provides


def closure(roots, pkgs, provides):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for n in provides.get(p, []):
            todo.append(n)
        for alts in pkgs.get(p, {}).get("deps", []):
            todo += [a for a in alts if a in pkgs or a in provides]
    return seen


SANITIZER = re.compile(r"^lib(asan|ubsan|lsan|tsan|hwasan)\.so")


def main():
    sluice, root, meson = sys.argv[1], sys.argv[2], sys.argv[3]
    cf = os.path.join(root, "deploy", "Containerfile")
    st = stages(cf)
    if len(st) != 2:
        fail("expected two stages (build, runtime), found %d" % len(st))
        sys.exit(1)
    (build_from, build), (run_from, run) = st
    if build_from.split()[0] != "debian:12" or not run_from.startswith("debian:12-slim"):
        fail("stages FROM %s and %s, expected debian:12 and debian:12-slim" %
             (build_from, run_from))
    runtime = apt_packages(run)
    if not runtime:
        fail("the runtime stage installs no packages")
        sys.exit(1)
    pkgs, provides = installed()
    for p in runtime:
        if p not in pkgs:
            fail("runtime package %s is not a package installed here (misspelt?)" % p)
    base = {p for p, v in pkgs.items() if v["required"]}
    base = closure(base, pkgs, provides)
    named = set(runtime) | base
    covered = closure(runtime, pkgs, provides) | base

    def check_object(label, path, direct_must_be_named):
        libs = ldd(path)
        for so in needed(path):
            if SANITIZER.match(so) or so.startswith("ld-linux"):
                continue
            lib = libs.get(so)
            if lib is None:
                fail("%s: NEEDED %s not resolved by ldd" % (label, so))
                continue
            pkg = owner(lib)
            if pkg is None:
                fail("%s: %s (%s) belongs to no package" % (label, so, lib))
            elif direct_must_be_named and pkg not in named:
                fail("%s links %s from %s, which the runtime stage does not install" %
                     (label, so, pkg))
            elif pkg not in covered:
                fail("%s: %s from %s is not pulled in by the runtime packages" % (label, so, pkg))
            # what that library loads, without the sanitizer runtime of this build
            for so2, lib2 in ldd(lib).items():
                pkg2 = owner(lib2)
                if pkg2 is None or pkg2 not in covered:
                    fail("%s: %s needs %s (%s), not pulled in by the runtime packages" %
                         (label, so, so2, pkg2))
        return len(libs)

    n = check_object("sluice", sluice, True)
    ok("the binary's libraries (%d with their own) come from the runtime packages" % n)

    # DPDK's drivers are plugins EAL loads from its directory, not linked: name them.
    pmds = sorted(glob.glob("/usr/lib/*/dpdk/pmds-*"))
    if not pmds:
        fail("no DPDK plugin directory")
        sys.exit(1)
    pmd_dir = pmds[-1]
    drivers = set()
    for prof in glob.glob(os.path.join(root, "drivers-config", "*.conf")):
        m = re.search(r'driver\s*=\s*"net_([a-z0-9_]+)"', open(prof).read())
        if m:
            drivers.add(m.group(1))
    plugins = ["bus_pci", "bus_vdev", "mempool_ring"]
    for d in sorted(drivers):
        # a VF's driver lives in its PF's plugin (net_ixgbe_vf in librte_net_ixgbe)
        for name in (d, re.sub(r"_vf$", "", d)):
            if glob.glob(os.path.join(pmd_dir, "librte_net_%s.so.*" % name)):
                plugins.append("net_" + name)
                break
        else:
            fail("no DPDK plugin for driver net_%s in %s" % (d, pmd_dir))
    for pl in plugins:
        files = sorted(glob.glob(os.path.join(pmd_dir, "librte_%s.so.*" % pl)))
        if not files:
            fail("plugin librte_%s missing from %s" % (pl, pmd_dir))
            continue
        pkg = owner(files[0])
        if pkg not in runtime:
            fail("plugin librte_%s comes from %s, which the runtime stage does not install" %
                 (pl, pkg))
        check_object(pl, os.path.realpath(files[0]), False)
    ok("DPDK plugins for %d profile drivers, the buses and the mempool: %s" %
       (len(drivers), " ".join(plugins)))

    # The build stage installs as setup.sh does.
    setup = open(os.path.join(root, "scripts", "setup.sh")).read()
    m = re.search(r"packages=\((.*?)\n\)", setup, re.S)
    setup_pkgs = set(re.sub(r"#.*", "", m.group(1)).split()) if m else set()
    for p in apt_packages(build):
        if p not in setup_pkgs:
            fail("the build stage installs %s, which scripts/setup.sh does not" % p)
    ok("the build stage's packages are setup.sh's")

    # Replay the build stage's COPY lines and its meson setup.
    with tempfile.TemporaryDirectory() as tmp:
        workdir = "/"
        src = None
        for line in build:
            word, _, rest = line.partition(" ")
            word = word.upper()
            if word == "WORKDIR":
                workdir = rest.strip()
            elif word == "COPY":
                parts = shlex.split(rest)
                if any(p.startswith("--") for p in parts):
                    continue
                *sources, dest = parts
                if not dest.endswith("/"):
                    fail("COPY %s: write the destination as a directory (ending in /)" % rest)
                    continue
                to = os.path.join(tmp, workdir.lstrip("/"), dest)
                os.makedirs(to, exist_ok=True)
                src = os.path.join(tmp, workdir.lstrip("/"))
                for s in sources:
                    p = os.path.join(root, s)
                    if os.path.isdir(p):
                        shutil.copytree(p, to, symlinks=True, dirs_exist_ok=True)
                    elif os.path.exists(p):
                        shutil.copy2(p, to)
                    else:
                        fail("COPY %s: no such file in the repository" % s)
            elif word == "RUN" and "meson setup" in rest:
                cmd = shlex.split(re.search(r"meson setup[^&]*", rest).group(0))
                cmd = [meson] + cmd[1:]
                cmd[2] = os.path.join(tmp, "build")  # the build directory
                r = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
                if r.returncode != 0:
                    fail("meson setup from the copied files failed:\n" + r.stdout[-3000:] +
                         r.stderr[-3000:])
                    break
                ok("meson setup configures from the files the build stage copies: " +
                   " ".join(cmd[3:]))
                # meson checks install_subdir's directories only when installing: every
                # source file or directory to install must have been copied.
                r = subprocess.run([meson, "introspect", "--installed", cmd[2]],
                                   capture_output=True, text=True, check=True)
                missing = [s for s in json.loads(r.stdout)
                           if not s.startswith(cmd[2] + os.sep) and not os.path.exists(s)]
                if missing:
                    fail("meson install would miss what the build stage does not copy: %s" %
                         ", ".join(os.path.relpath(m, src) for m in missing))
                else:
                    ok("everything meson install takes from the sources is copied")
                break
        else:
            fail("no meson setup in the build stage")

    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
