#!/usr/bin/env python3
"""Writes seccomp.json: Docker's default profile plus what Chrome's own sandbox needs.

Usage: make-seccomp.py [DEFAULT_JSON] > seccomp.json

DEFAULT_JSON is Docker's default profile; Debian ships the one of its engine in the package
golang-github-docker-docker-dev. Every added rule carries a comment, and the README explains
each of them.
"""

import json
import sys

DEFAULT = "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json"

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# Namespaces Chrome never asks for: these stay refused.
NOT_FOR_CHROME = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC

ADDED = [
    {
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        "args": [
            {"index": 0, "value": NOT_FOR_CHROME, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
        ],
        "comment": "chrome sandbox: clone into new user, pid and network namespaces "
        "(mount, cgroup, uts and ipc namespaces stay refused)",
        "includes": {},
        "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]},
    },
    {
        "names": ["unshare"],
        "action": "SCMP_ACT_ALLOW",
        "args": [
            {
                "index": 0,
                "value": NOT_FOR_CHROME | CLONE_NEWPID | CLONE_NEWNET,
                "valueTwo": 0,
                "op": "SCMP_CMP_MASKED_EQ",
            }
        ],
        "comment": "chrome sandbox: unshare(CLONE_NEWUSER), the probe for usable user "
        "namespaces; no other namespace may be unshared",
        "includes": {},
        "excludes": {"caps": ["CAP_SYS_ADMIN"]},
    },
    {
        "names": ["chroot"],
        "action": "SCMP_ACT_ALLOW",
        "args": [],
        "comment": "chrome sandbox: chroot into an empty directory inside its own user "
        "namespace, so sandboxed processes see no filesystem",
        "includes": {},
        "excludes": {"caps": ["CAP_SYS_CHROOT"]},
    },
]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    with open(path) as f:
        profile = json.load(f)
    profile["syscalls"].extend(ADDED)
    json.dump(profile, sys.stdout, indent="\t")
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
