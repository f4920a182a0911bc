"""The folder page driven in Chromium by Selenium (tests/browser.rs runs it).

Usage: page.py URL DIR AUTH_URL AUTH_DIR SCREENS WORK MODE WURL WDIR
  URL       the writable folder's page (http://127.0.0.1:PORT/dav/), DIR its folder on disk
  AUTH_URL  a folder page that needs Basic credentials, with them (http://u:p@.../priv/),
            AUTH_DIR its folder on disk; "-" for none (a build without feature ops)
  SCREENS   where the screenshots go; WORK a scratch folder
  MODE      dav (folders and renames offered) or files (files only: a build without dav)
  WURL      a folder page anyone may read and only writers (alice:wonder) may write; WDIR
            its folder on disk

Any problem is a failure (exit 1) with the step it happened in; tests/browser.rs skips
before running this when chromium, chromedriver or selenium is absent.
"""

import hashlib
import http.client
import os
import shutil
import sys
import time
import traceback
import urllib.parse
import zipfile

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

URL, DIR, AUTH_URL, AUTH_DIR, SCREENS, WORK, MODE, WURL, WDIR = sys.argv[1:10]
# "dav": the build has WebDAV's MKCOL and MOVE (folders, renames); "files": it has not,
# and the page must not offer them.
DAV = MODE == "dav"
XSS = "<img src=x onerror=alert(1)>.txt"
PICKED_XSS = "<i onmouseover=alert(2)>.txt"
MIB = 1 << 20
WAIT = 60  # seconds, for any one thing to happen


def log(*a):
    print(*a, flush=True)


def start(bidi=False, profile="profile"):
    opts = webdriver.ChromeOptions()
    opts.enable_bidi = bidi
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--window-size=1000,800", "--user-data-dir=" + os.path.join(WORK, profile)):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def wait(drv, what, cond, limit=WAIT):
    try:
        return WebDriverWait(drv, limit, poll_frequency=0.05).until(lambda d: cond(d))
    except Exception:
        raise AssertionError("timed out after %ss waiting for %s" % (limit, what))


def ready(drv):
    wait(drv, "the script", lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("data-js") == "ready")


def row_names(drv):
    return drv.execute_script(
        "return [...document.querySelectorAll('#list tbody tr[data-s]')]"
        ".filter(r => !r.hidden).map(r => r.cells[0].textContent)")


def has_row(name):
    return lambda d: name in row_names(d)


def row_button(drv, name, label):
    for r in drv.find_elements(By.CSS_SELECTOR, "#list tbody tr[data-s]"):
        if r.find_element(By.CSS_SELECTOR, "td").text == name:
            return r.find_element(By.CSS_SELECTOR, "button[title^='%s']" % label)
    raise AssertionError("no row %r among %r" % (name, row_names(drv)))


def uploads_done(drv, n):
    """Wait until the panel shows n uploads, all done, with full bars and 100% in total."""
    states = lambda d: d.execute_script(
        "return [...document.querySelectorAll('#q li[data-state]')].map(l => l.dataset.state)")
    wait(drv, "%d uploads done" % n,
         lambda d: len(states(d)) == n and all(s == "done" for s in states(d)) or
         any(s == "failed" for s in states(d)))
    got = states(drv)
    notes = drv.execute_script("return [...document.querySelectorAll('#q li')].map(l => l.textContent)")
    assert all(s == "done" for s in got), "uploads: %r %r" % (got, notes)
    bars = drv.execute_script(
        "return [...document.querySelectorAll('#q li progress')].map(p => [p.value, p.max])")
    assert all(v == m for v, m in bars), "bars not full: %r" % bars
    total = drv.execute_script("return document.querySelector('#q div span').textContent")
    assert total == "%d of %d uploaded, 100%%" % (n, n), total


def no_alert(drv):
    try:
        text = drv.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError("an alert showed: %r (injected markup ran?)" % text)


def dialog(drv, keys=None, accept=True):
    wait(drv, "a dialog", EC.alert_is_present())
    a = drv.switch_to.alert
    if keys is not None:
        a.send_keys(keys)
    a.accept() if accept else a.dismiss()


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def partial_patch(url, data, cut):
    """Start a resumable upload of data and break the connection after cut bytes."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.putrequest("PATCH", u.path)
    c.putheader("Content-Type", "application/offset+octet-stream")
    c.putheader("Upload-Length", str(len(data)))
    c.putheader("Upload-Offset", "0")
    c.putheader("Content-Length", str(len(data)))
    c.endheaders()
    c.send(data[:cut])
    c.sock.close()


def staged(url, total):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("PATCH", u.path, headers={"Upload-Length": str(total)})
    r = c.getresponse()
    r.read()
    assert r.status == 204, r.status
    return int(r.getheader("Upload-Offset"))


def main(drv):
    step = lambda s: log("step:", s)
    os.makedirs(SCREENS, exist_ok=True)

    step("the page, its script, and a name made of markup shown as text")
    drv.get(URL)
    ready(drv)
    assert XSS in row_names(drv), row_names(drv)
    assert drv.execute_script("return document.querySelectorAll('img').length") == 0
    no_alert(drv)

    step("screenshots, light and dark")
    for scheme in ("light", "dark"):
        drv.execute_cdp_cmd("Emulation.setEmulatedMedia",
                            {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        bg = drv.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert bg == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(20, 24, 28)"), bg
        drv.save_screenshot(os.path.join(SCREENS, "page-%s.png" % scheme))
    drv.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    step("sort: natural by name, by size both ways; filter")
    names = row_names(drv)
    assert names.index("file2.txt") < names.index("file10.txt"), names
    drv.find_element(By.CSS_SELECTOR, "th a[data-k=size]").click()
    sizes = drv.execute_script(
        "return [...document.querySelectorAll('#list tbody tr[data-s]:not(.dir)')].map(r => +r.dataset.s)")
    assert sizes == sorted(sizes), sizes
    assert "sort=size" in drv.current_url, drv.current_url
    drv.find_element(By.CSS_SELECTOR, "th a[data-k=size]").click()
    sizes = drv.execute_script(
        "return [...document.querySelectorAll('#list tbody tr[data-s]:not(.dir)')].map(r => +r.dataset.s)")
    assert sizes == sorted(sizes, reverse=True), sizes
    f = drv.find_element(By.ID, "filter")
    f.send_keys("file")
    shown = row_names(drv)
    assert shown and all("file" in n for n in shown), shown
    assert len(shown) < len(names), (shown, names)
    f.clear()
    f.send_keys(" ")
    f.clear()
    drv.get(URL)
    ready(drv)

    step("upload files with the file input: progress to the end, list refreshed")
    picked = [os.path.join(WORK, "picked.txt"), os.path.join(WORK, PICKED_XSS)]
    with open(picked[0], "w") as fh:
        fh.write("picked by the file input\n")
    with open(picked[1], "w") as fh:
        fh.write("xss\n")
    drv.find_element(By.ID, "up").send_keys("\n".join(picked))
    uploads_done(drv, 2)
    wait(drv, "the new rows", lambda d: "picked.txt" in row_names(d) and PICKED_XSS in row_names(d))
    # The panel shows the name as text, as the list does.
    assert PICKED_XSS in drv.execute_script("return [...document.querySelectorAll('#q .f')].map(e => e.textContent)")
    assert drv.execute_script("return document.querySelectorAll('i, img').length") == 0
    no_alert(drv)

    if DAV:
        step("upload a folder with the folder input (MKCOL, then PUT)")
        os.makedirs(os.path.join(WORK, "tree/a"), exist_ok=True)
        with open(os.path.join(WORK, "tree/top.txt"), "w") as fh:
            fh.write("top\n")
        with open(os.path.join(WORK, "tree/a/deep.txt"), "w") as fh:
            fh.write("deep\n")
        drv.find_element(By.ID, "updir").send_keys(os.path.join(WORK, "tree"))
        uploads_done(drv, 4)
        wait(drv, "the folder's row", has_row("tree/"))
        drv.save_screenshot(os.path.join(SCREENS, "page-uploads.png"))
    else:
        for title in ("Upload a folder", "New folder"):
            assert not drv.find_elements(By.CSS_SELECTOR, "button[title='%s']" % title), title
        assert not drv.find_elements(By.CSS_SELECTOR, "button[title^='Rename']")
        drv.save_screenshot(os.path.join(SCREENS, "page-uploads.png"))
    step("drop a file on the page (a DataTransfer dispatched as a drop)")
    drv.execute_script("""
        const dt = new DataTransfer();
        dt.items.add(new File(["dropped on the page\\n"], "dropped.txt", {type: "text/plain"}));
        document.body.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
        document.body.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    """)
    uploads_done(drv, 5 if DAV else 3)
    wait(drv, "the dropped file's row", has_row("dropped.txt"))

    if DAV:
        step("new folder, rename into it")
        drv.find_element(By.CSS_SELECTOR, "button[title='New folder']").click()
        dialog(drv, "made")
        wait(drv, "the new folder's row", has_row("made/"))
        assert os.path.isdir(os.path.join(DIR, "made"))
        row_button(drv, "readme.txt", "Rename").click()
        dialog(drv, "made/renamed.txt")
        wait(drv, "readme.txt gone", lambda d: "readme.txt" not in row_names(d))
        assert os.path.isfile(os.path.join(DIR, "made/renamed.txt"))
    step("delete with confirmation")
    row_button(drv, "file10.txt", "Delete").click()
    dialog(drv, accept=False)
    time.sleep(0.3)
    assert os.path.exists(os.path.join(DIR, "file10.txt")), "deleted without confirmation"
    row_button(drv, "file10.txt", "Delete").click()
    dialog(drv)
    wait(drv, "file10.txt gone", lambda d: "file10.txt" not in row_names(d))
    assert not os.path.exists(os.path.join(DIR, "file10.txt"))

    step("download the folder as a zip from the page, and read it")
    dl = os.path.join(WORK, "downloads")
    os.makedirs(dl, exist_ok=True)
    drv.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": dl})
    drv.find_element(By.CSS_SELECTOR, "a[href='?download=zip']").click()
    zips = lambda d: [n for n in os.listdir(dl) if n.endswith(".zip")]
    wait(drv, "the zip", zips)
    z = zipfile.ZipFile(os.path.join(dl, zips(drv)[0]))
    assert z.testzip() is None
    members = z.namelist()
    wants = ("picked.txt", "tree/a/deep.txt", "made/renamed.txt", XSS) if DAV else ("picked.txt", "sub/file10.txt", XSS)
    for want in wants:
        assert any(m.endswith(want) for m in members), (want, members)
    picked_in = [m for m in members if m.endswith("picked.txt")][0]
    assert z.read(picked_in) == b"picked by the file input\n"

    step("a resumable upload continues a broken one, byte-identical")
    big = os.path.join(WORK, "big.bin")
    data = os.urandom(20 * MIB + 12345)
    with open(big, "wb") as fh:
        fh.write(data)
    partial_patch(URL + "big.bin", data, 5 * MIB)
    wait(drv, "the server to keep the broken chunk", lambda d: staged(URL + "big.bin", len(data)) == 5 * MIB)
    assert not os.path.exists(os.path.join(DIR, "big.bin"))
    drv.find_element(By.ID, "up").send_keys(big)
    uploads_done(drv, 6 if DAV else 4)
    start = drv.execute_script("return [...document.querySelectorAll('#q li')].pop().dataset.from")
    assert start == str(5 * MIB), "began at %r, not where the broken upload stopped" % start
    assert sha(os.path.join(DIR, "big.bin")) == sha(big)

    step("an upload that loses the network partway retries and resumes")
    big2 = os.path.join(WORK, "big2.bin")
    with open(big2, "wb") as fh:
        fh.write(os.urandom(40 * MIB))
    drv.execute_cdp_cmd("Network.enable", {})
    drv.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 8 * MIB})
    drv.find_element(By.ID, "up").send_keys(big2)
    sent = lambda d: d.execute_script("return [...document.querySelectorAll('#q li progress')].pop().value")
    wait(drv, "a fifth of it sent", lambda d: sent(d) > 8 * MIB)
    drv.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    wait(drv, "the page to notice", lambda d: "retrying" in d.execute_script(
        "return [...document.querySelectorAll('#q li')].pop().textContent"))
    drv.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    uploads_done(drv, 7 if DAV else 5)
    resumed = drv.execute_script("return [...document.querySelectorAll('#q li')].pop().dataset.resumed")
    assert resumed and int(resumed) > 0, "not resumed: %r" % resumed
    log("resumed at", resumed, "of", 40 * MIB)
    assert sha(os.path.join(DIR, "big2.bin")) == sha(big2)
    os.remove(os.path.join(DIR, "big2.bin"))

    step("cancel one upload, then all")
    drv.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 1 * MIB})
    slow = [os.path.join(WORK, "slow%d.bin" % i) for i in (1, 2)]
    for p in slow:
        with open(p, "wb") as fh:
            fh.write(os.urandom(12 * MIB))
    drv.find_element(By.ID, "up").send_keys("\n".join(slow))
    state = lambda d, i: d.execute_script(
        "return [...document.querySelectorAll('#q li[data-state]')].slice(-2)[%d].dataset.state" % i)
    wait(drv, "the first to start", lambda d: state(d, 0) == "uploading")
    drv.execute_script("[...document.querySelectorAll('#q li[data-state]')].slice(-2)[0].querySelector('button').click()")
    wait(drv, "the second to start", lambda d: state(d, 0) == "cancelled" and state(d, 1) == "uploading")
    drv.find_element(By.CSS_SELECTOR, "button[title='Cancel all uploads']").click()
    wait(drv, "the second cancelled", lambda d: state(d, 1) == "cancelled")
    drv.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    wait(drv, "the server to drop their temporary files", lambda d: not [
        n for n in os.listdir(DIR) if n.startswith(".barehttpd-upload-")])
    assert not any(os.path.exists(os.path.join(DIR, os.path.basename(p))) for p in slow)
    total = drv.execute_script("return document.querySelector('#q div span').textContent")
    n = 7 if DAV else 5  # the cancelled ones are not counted
    assert total == "%d of %d uploaded, 100%%" % (n, n), total

    step("no Content-Security-Policy violation, no script error")
    bad = [e["message"] for e in drv.get_log("browser")
           if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"
           and "net::ERR" not in e["message"] and "favicon" not in e["message"]]
    assert not bad, bad

    if AUTH_URL == "-":
        log("no readers step: this build has no config file (feature ops) for readers")
        return
    step("credentials: Basic authentication for reading and writing")
    drv.get(AUTH_URL)
    ready(drv)
    authed = os.path.join(WORK, "authed.txt")
    with open(authed, "w") as fh:
        fh.write("with credentials\n")
    drv.find_element(By.ID, "up").send_keys(authed)
    uploads_done(drv, 1)
    assert os.path.isfile(os.path.join(AUTH_DIR, "authed.txt"))


def prompted():
    """Writers only: the page loads without credentials; the upload's 401 brings the
    browser's Basic prompt, answered here by WebDriver BiDi's auth handler."""
    log("step: credentials asked by the browser when a write meets 401")
    drv = start(bidi=True, profile="profile-bidi")
    try:
        drv.network.add_auth_handler("alice", "wonder")
        drv.get(WURL)
        ready(drv)
        f = os.path.join(WORK, "prompted.txt")
        with open(f, "w") as fh:
            fh.write("after the prompt\n")
        drv.find_element(By.ID, "up").send_keys(f)
        uploads_done(drv, 1)
        assert os.path.isfile(os.path.join(WDIR, "prompted.txt"))
    finally:
        drv.quit()


def run():
    drv = start()
    try:
        main(drv)
        prompted()
        log("all steps passed")
        return 0
    except Exception:
        traceback.print_exc(file=sys.stdout)
        try:
            drv.save_screenshot(os.path.join(SCREENS, "failure.png"))
        except Exception:
            pass
        return 1
    finally:
        drv.quit()


sys.exit(run())
