#!/usr/bin/env python3
"""Chromium over HTTPS to barehttpd: which protocol it negotiates, for the page, a file the
page fetches, and a PUT the page sends (tests/browser_h2.rs starts the server).

  python3 tests/browser/h2.py URL_OF_FOLDER WORK

Prints one line per check and exits non-zero at the first that fails.
"""
import os
import shutil
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

URL, WORK = sys.argv[1], sys.argv[2]


def main():
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    # The test certificate is self-signed: the protocol, not the trust, is under test.
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--ignore-certificate-errors", "--user-data-dir=" + os.path.join(WORK, "profile")):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    drv.set_script_timeout(30)
    try:
        drv.get(URL)
        nav = drv.execute_script(
            "return performance.getEntriesByType('navigation')[0].nextHopProtocol")
        print("page:", nav, flush=True)
        assert nav == "h2", f"the page came over {nav!r}"
        got = drv.execute_async_script("""
            const done = arguments[arguments.length - 1];
            (async () => {
              const r = await fetch('hello.txt', {cache: 'no-store'});
              const text = await r.text();
              const put = await fetch('made-over-h2.txt', {method: 'PUT', body: 'sent by chromium\\n'});
              const e = performance.getEntriesByName(r.url).pop();
              done([r.status, text, e ? e.nextHopProtocol : '', put.status]);
            })().catch(e => done(['error', String(e)]));
        """)
        print("fetch and put:", got, flush=True)
        assert got[0] == 200 and got[1] == "hello over h2\n", got
        assert got[2] == "h2", f"the fetch came over {got[2]!r}"
        assert got[3] == 201, f"PUT answered {got[3]}"
    finally:
        drv.quit()


main()
