#!/usr/bin/python3
"""check_deps: every system file the build uses comes from a package setup installs.

A fresh Debian 12 machine gets only what tools/setup.sh installs, but this
machine already has most packages, so a build that passes here can still fail
there. This check maps to its Debian package (dpkg -S):

  - every shared library the built binaries load (ldd),
  - every library named by a -l link option in the project's BUILD files,
  - every system header the compiler read (the .d files Bazel keeps),

and fails, naming the package and a file from it, when the package is neither
in setup.sh's list nor pulled in by one that is (Depends/Pre-Depends, followed
transitively over installed packages), nor part of every Debian system
(Essential: yes, Priority: required). Files of the CUDA toolkit
(/usr/local/cuda*) are exempt: it is optional and not a Debian package.

Usage:
  tools/check_deps.py                      # after a bazel build/test
  tools/check_deps.py --setup FILE --file PATH...   # check given paths only
"""
import argparse
import glob
import os
import re
import subprocess
import sys

EXEMPT_PREFIXES = ("/usr/local/cuda",)
LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/lib")


def setup_packages(setup):
    out = subprocess.run(["bash", setup, "--list"], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def installed_graph():
    """Package -> set of dependency names; virtual name -> providers; base set."""
    fmt = "${Package}\t${Depends}, ${Pre-Depends}\t${Provides}\t${Essential}\t${Priority}\t${db:Status-Status}\n"
    out = subprocess.run(["dpkg-query", "-W", "-f=" + fmt], check=True, capture_output=True,
                         text=True).stdout
    deps, providers, base = {}, {}, set()
    for line in out.splitlines():
        name, depends, provides, essential, priority, status = line.split("\t")
        if status != "installed":
            continue
        names = set()
        for clause in depends.split(","):
            # An alternative "a | b" is satisfied by whichever is installed.
            for alt in clause.split("|"):
                alt = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alt).strip().split(":")[0]
                if alt:
                    names.add(alt)
        deps[name] = names
        for p in provides.split(","):
            p = re.sub(r"\(.*?\)", "", p).strip().split(":")[0]
            if p:
                providers.setdefault(p, set()).add(name)
        if essential == "yes" or priority == "required":
            base.add(name)
    return deps, providers, base


def closure(roots, deps, providers):
    seen, stack = set(), list(roots)
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        for d in deps.get(p, ()):
            stack.append(d)
            stack.extend(providers.get(d, ()))
    return seen


def owners(paths):
    """path -> package for every path dpkg knows (tried as given and resolved)."""
    candidates = {}
    for p in paths:
        forms = {p, os.path.realpath(p)}
        for f in list(forms):
            if f.startswith("/lib/"):
                forms.add("/usr" + f)
            elif f.startswith("/usr/lib/"):
                forms.add(f[len("/usr"):])
        for f in forms:
            candidates.setdefault(f, set()).add(p)
    result = {}
    items = sorted(candidates)
    for i in range(0, len(items), 500):
        out = subprocess.run(["dpkg", "-S"] + items[i:i + 500], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            pkgs, _, path = line.partition(": ")
            if path in candidates:
                for original in candidates[path]:
                    result[original] = pkgs.split(",")[0].strip().split(":")[0]
    return result


def built_binaries():
    out = subprocess.run(["bazel", "query", "--noshow_progress",
                          'kind("cc_binary|cc_test", //...)'],
                         capture_output=True, text=True)
    binaries = []
    for label in out.stdout.split():
        package, _, name = label.lstrip("/").partition(":")
        path = os.path.join("bazel-bin", package, name)
        if os.path.isfile(path):
            binaries.append(path)
    return binaries


def shared_libraries(binaries):
    libs = set()
    for b in binaries:
        out = subprocess.run(["ldd", b], capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
            if m:
                libs.add(m.group(1))
    return libs


def linked_libraries():
    """Files for every -lNAME in the project's BUILD files and .bzl macros."""
    files = set()
    sources = glob.glob("**/BUILD", recursive=True) + glob.glob("tools/**/*.bzl", recursive=True)
    for path in sources:
        if path.startswith("bazel-") or path.startswith("third_party/rules_"):
            continue
        for name in re.findall(r'"-l([A-Za-z0-9_+.-]+)"', open(path).read()):
            for d in LIB_DIRS:
                hit = [f for f in (f"{d}/lib{name}.so", f"{d}/lib{name}.a") if os.path.exists(f)]
                if hit:
                    files.add(hit[0])
                    break
    return files


def system_headers():
    headers = set()
    for d in glob.glob("bazel-out/*/bin/**/*.d", recursive=True):
        try:
            text = open(d).read()
        except OSError:
            continue
        for token in text.replace("\\\n", " ").split():
            if token.startswith("/") and not token.endswith(":"):
                headers.add(os.path.normpath(token))
    return headers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--setup", default="tools/setup.sh", help="setup script with --list")
    ap.add_argument("--file", nargs="*", help="check these paths instead of the build's")
    args = ap.parse_args()

    wanted = setup_packages(args.setup)
    deps, providers, base = installed_graph()
    allowed = closure(wanted | base, deps, providers)

    if args.file is not None:
        paths = set(args.file)
    else:
        binaries = built_binaries()
        paths = shared_libraries(binaries) | linked_libraries() | system_headers()
        print(f"check_deps: {len(binaries)} binaries, {len(paths)} system files, "
              f"{len(wanted)} packages in {args.setup}")

    # The project's own shared objects (Bazel links tests dynamically) are not
    # system files.
    output_base = os.path.realpath("bazel-bin").split("/execroot/")[0]
    own = (output_base, os.getcwd())
    paths = {p for p in paths
             if not p.startswith(EXEMPT_PREFIXES) and "linux-vdso" not in p
             and not os.path.realpath(p).startswith(own)}
    owner = owners(paths)
    problems = {}
    for p in sorted(paths):
        pkg = owner.get(p)
        if pkg is None:
            problems.setdefault(f"(no Debian package) {p}", p)
        elif pkg not in allowed:
            problems.setdefault(pkg, p)
    for pkg, example in sorted(problems.items()):
        print(f"check_deps: MISSING from {args.setup}: {pkg} (provides {example})")
    if problems:
        return 1
    print(f"check_deps: ok, every system file comes from a package setup installs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
