#!/usr/bin/env python3
"""Renders the comparison benchmark's jobs with Playwright for Python, as a backend
developer would: one warm Chromium (the system's, with its sandbox on), a fresh browser
context per job, the async API.

Two ways to run it:

  playwright_bench.py [--chrome PATH]
      Reads batches from standard input and answers each on standard output, one JSON
      object a line; this is how the `compare` bench drives it. A batch is
        {"job": {"url": URL, "output": "pdf" | "screenshot",
                 "wait_selector": CSS or null, "selector": CSS or null},
         "jobs": N, "concurrency": C, "save": PATH or null}
      and runs N jobs with C workers, each taking the next job as soon as it finishes one;
      `save` names a file for the first job's output. The answer is
        {"results": [{"ms": 12.3, "bytes": 4567} or {"ms": 12.3, "error": "..."}],
         "wall_ms": 45.6}
      with one result per job in the order they finished. The program ends with its input.

  playwright_bench.py --url URL [--screenshot CSS] [--wait CSS] [--jobs N]
                      [--concurrency C] [--save PATH]
      Runs one batch and prints its answer: a quick check by hand.

Needs only the `playwright` package; no browser download, since it uses the given binary.
"""

import argparse
import asyncio
import json
import sys
import time

from playwright.async_api import async_playwright

VIEWPORT = {"width": 1280, "height": 800}
A4_MARGINS = {"top": "10mm", "right": "10mm", "bottom": "10mm", "left": "10mm"}
# Generous enough for a 50-page PDF on a busy machine.
TIMEOUT_MS = 120_000


async def render(browser, job):
    """One job in a browser context of its own; returns the PDF or PNG bytes."""
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        await page.goto(job["url"], wait_until="load", timeout=TIMEOUT_MS)
        if job.get("wait_selector"):
            await page.wait_for_selector(job["wait_selector"], timeout=TIMEOUT_MS)
        if job["output"] == "pdf":
            return await page.pdf(format="A4", margin=A4_MARGINS, print_background=True)
        element = page.locator(job.get("selector") or "body")
        return await element.screenshot(type="png", timeout=TIMEOUT_MS)
    finally:
        await context.close()


async def run_batch(browser, batch):
    job = batch["job"]
    total = batch["jobs"]
    save = batch.get("save")
    next_index = 0
    results = []

    async def worker():
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                data = await render(browser, job)
            except Exception as error:  # the bench counts failures, it does not stop
                ms = (time.perf_counter() - started) * 1000
                results.append({"ms": ms, "error": f"{type(error).__name__}: {error}"})
                continue
            ms = (time.perf_counter() - started) * 1000
            if index == 0 and save:
                with open(save, "wb") as out:
                    out.write(data)
            results.append({"ms": ms, "bytes": len(data)})

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, batch["concurrency"]))))
    return {"results": results, "wall_ms": (time.perf_counter() - started) * 1000}


async def serve(browser):
    """Answers batches from standard input until it ends."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        answer = await run_batch(browser, json.loads(line))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chrome", default="/usr/lib/chromium/chromium")
    parser.add_argument("--url", help="run one batch of this page and exit")
    parser.add_argument("--screenshot", metavar="CSS", help="capture this element, not a PDF")
    parser.add_argument("--wait", metavar="CSS", help="wait for this selector after load")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--save", metavar="PATH", help="write the first output here")
    args = parser.parse_args()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=args.chrome, chromium_sandbox=True
        )
        try:
            if args.url is None:
                await serve(browser)
                return
            job = {
                "url": args.url,
                "output": "screenshot" if args.screenshot else "pdf",
                "wait_selector": args.wait,
                "selector": args.screenshot,
            }
            batch = {
                "job": job,
                "jobs": args.jobs,
                "concurrency": args.concurrency,
                "save": args.save,
            }
            print(json.dumps(await run_batch(browser, batch)))
        finally:
            await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
