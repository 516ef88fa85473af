#!/usr/bin/env python3
"""Generates a full-size Debian Security Tracker JSON feed for benchmarks.

The output is GENERATED, not real data: every source package and vulnerability in it is
made up, except that the source packages of the given inventory are included so that a scan
has something to match. Its shape follows the real feed: keyed by source package, then by
CVE id, then by release; open, resolved and undetermined entries; fixed_version "0" for
not-affected releases; urgencies with "*" and "**", "not yet assigned", "end-of-life";
nodsa with and without a reason; suites with a -security repository; empty fields dropped;
descriptions of realistic length. With the defaults it is about 55 MB.

Usage: gen-debian-feed.py INVENTORY.json OUT.json [SOURCE_PACKAGES] [SEED]
"""

import json
import random
import sys

RELEASES = ["bullseye", "bookworm", "trixie", "sid"]
URGENCIES = ["unimportant", "low", "low*", "medium", "medium**", "high", "not yet assigned"]
WORDS = ("buffer overflow use-after-free integer heap stack out-of-bounds read write "
         "remote attacker crafted file denial of service arbitrary code execution via "
         "function component allows could lead to memory corruption in the parser when "
         "processing malformed input before version leads information disclosure").split()


def version_near(installed, rng):
    """A plausible fixed version just below or just above an installed version."""
    base = installed.rsplit("+deb", 1)[0]
    if rng.random() < 0.6:
        return base + "~" + rng.choice(["pre1", "rc1", "beta"])
    return base + "+deb12u" + str(rng.randint(1, 9))


def description(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 45))).capitalize() + "."


def entry(rng, installed):
    releases = {}
    for release in RELEASES:
        roll = rng.random()
        repo = installed if installed else "%d.%d-%d" % (rng.randint(1, 9), rng.randint(0, 20),
                                                         rng.randint(1, 5))
        item = {"repositories": {release: repo}}
        if roll < 0.15:
            item.update(status="resolved", fixed_version="0", urgency="unimportant")
        elif roll < 0.60:
            fixed = version_near(repo, rng) if installed else repo
            item.update(status="resolved", fixed_version=fixed, urgency=rng.choice(URGENCIES))
            if rng.random() < 0.3:
                item["repositories"][release + "-security"] = fixed
        elif roll < 0.80:
            item.update(status="open", urgency=rng.choice(URGENCIES))
        elif roll < 0.93:
            item.update(status="open", urgency=rng.choice(["low", "medium"]),
                        nodsa=rng.choice(["Minor issue", "Can be fixed via point release"]),
                        nodsa_reason=rng.choice(["", "", "postponed", "ignored"]))
            if not item["nodsa_reason"]:
                del item["nodsa_reason"]
        elif roll < 0.97:
            item.update(status="undetermined", urgency="not yet assigned")
        else:
            item.update(status="open", urgency="end-of-life")
        releases[release] = item
    record = {"description": description(rng), "scope": rng.choice(["local", "remote"]),
              "releases": releases}
    if rng.random() < 0.4:
        record["debianbug"] = rng.randint(800000, 1100000)
    return record


def main():
    inventory = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 14000
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    sources = {}
    for p in inventory["packages"]:
        if p["kind"] == "deb":
            sources[p["deb"]["source_name"]] = p["deb"]["source_version"]
    names = list(sources)
    while len(names) < total:
        names.append("gen-%s-%d" % (rng.choice(WORDS), len(names)))
    feed = {}
    cve = 0
    for name in names:
        count = min(int(rng.paretovariate(1.2)) + 1, 400)
        if name in sources:
            count = max(count, 3)
        items = {}
        for _ in range(count):
            cve += 1
            items["CVE-%d-%d" % (rng.randint(2005, 2026), 10000 + cve)] = entry(
                rng, sources.get(name))
        feed[name] = items
    with open(out, "w") as f:
        json.dump(feed, f, separators=(",", ":"))
    print("generated %d source packages, %d vulnerabilities" % (len(feed), cve),
          file=sys.stderr)


if __name__ == "__main__":
    main()
