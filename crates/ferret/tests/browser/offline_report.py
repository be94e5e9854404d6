"""Opens a report.html from disk in headless Chromium and checks that it works offline:
nothing is fetched, no script error, the event table fills, the filter box narrows it
to exactly the events the filter selects (counted here from events.jsonl), a bad filter
is reported with its column, the process tree collapses, and a screenshot is not blank.

usage: offline_report.py REPORT_HTML EVENTS_JSONL SCREENSHOT_PNG
"""

import json
import re
import sys
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from common import check_not_blank, console_errors, driver, fail

EMBEDDED = 5000  # ferret_html::ReportPage::default().max_events
TYPES = ("execve", "openat")


def wait(d, cond, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    fail("timed out waiting for " + what + "; console: " + json.dumps(console_errors(d)))


def arg(e, name):
    """Display value of an argument, as the page shows it."""
    v = (e.get("args") or {}).get(name)
    if not isinstance(v, dict):
        return None
    for k in ("int", "uint", "fd", "str", "path", "bytes", "errno"):
        if k in v:
            return v[k]
    if "flags" in v:
        return v["flags"].get("text")
    if "strs" in v:
        return " ".join(v["strs"])
    if "sockaddr" in v:
        s = v["sockaddr"]
        if "path" in s:
            return s["path"]
        if "ip" in s:
            ip = "[%s]" % s["ip"] if ":" in s["ip"] else s["ip"]
            return ip + (":%d" % s["port"] if "port" in s else "")
        return s.get("family", "")
    return None


def path_of(e):
    return arg(e, "name") or arg(e, "pathname") or arg(e, "filename") or ""


def failed(e):
    return "ret" in e and e["ret"] < 0


CASES = [
    ("evt.type in (openat, connect, execve)", lambda e: e.get("type") in ("openat", "connect", "execve")),
    ("evt.type = openat and fd.name startswith /etc/", lambda e: e.get("type") == "openat" and path_of(e).startswith("/etc/")),
    ("evt.type=openat and not fd.name contains lib", lambda e: e.get("type") == "openat" and "lib" not in path_of(e)),
    ("evt.failed = true", failed),
    ("evt.failed=false and (evt.type = openat or evt.type = connect)",
     lambda e: not failed(e) and e.get("type") in ("openat", "connect")),
    ("evt.num > 100 and evt.num <= 300", lambda e: 100 < e.get("num", 0) <= 300),
    ("evt.rawres < 0", lambda e: "ret" in e and e["ret"] < 0),
    ("proc.pid != 2", lambda e: e.get("pid") != 2),
    ("evt.arg.addr exists", lambda e: "addr" in (e.get("args") or {})),
    ("fd.name icontains ETC/PASSWD", lambda e: "etc/passwd" in path_of(e).lower()),
    ("fd.name endswith .so.6", lambda e: path_of(e).endswith(".so.6")),
    ("evt.type = 'openat' and evt.arg.flags contains O_WRONLY",
     lambda e: e.get("type") == "openat" and "O_WRONLY" in (arg(e, "flags") or "")),
    ("not (evt.type = mmap or evt.type = close)", lambda e: e.get("type") not in ("mmap", "close")),
]


ERRORS = [
    ("evt.type = execve and", 22, "expected a condition"),
    ("proc.nam = x", 1, "unknown field 'proc.nam'"),
    ("evt.type pmatch (a, b)", 10, "not supported in the offline report"),
    ("fd.name glob '/tmp/*'", 9, "not supported in the offline report"),
    ("evt.type in execve", 13, "expected '(' after in"),
    ("evt.num > ten", 9, "compares numbers"),
    ("proc.name = 'abc", 13, "unterminated string"),
    ("(evt.type = execve", 19, "expected ')'"),
    ("evt.type = execve)", 18, "unexpected ')'"),
    ("spawned_process and proc.name = sh", 1, "macros and lists need the ferret serve UI"),
    ("evt.type", 9, "expected an operator"),
    ("evt.type ~ x", 10, "found '~'"),
]


def click(d, element_id):
    """Clicks an element scrolled to the middle of the window (the sticky section bar
    covers the top)."""
    el = d.find_element(By.ID, element_id)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def matching(status):
    m = re.search(r"of (\d+) matching", status)
    return int(m.group(1)) if m else None


def main():
    html, events, shot = sys.argv[1:4]
    lines = []
    with open(events, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                lines.append(json.loads(line))
    embedded = lines[:EMBEDDED]
    want = sum(1 for e in embedded if e.get("type") in TYPES)

    d = driver()
    try:
        d.get("file://" + html)
        status = d.find_element(By.ID, "ev-status")
        wait(d, lambda: matching(status.text) is not None, "the event table")
        rows = d.find_elements(By.CSS_SELECTOR, "#ev-table tbody tr.ev")
        all_count = matching(status.text)
        if all_count != len(embedded):
            fail("unfiltered table has %s events, events.jsonl starts with %d" % (all_count, len(embedded)))
        if not rows:
            fail("no event rows")
        loaded = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        if loaded:
            fail("the offline report fetched: %s" % loaded)

        box = d.find_element(By.ID, "ev-filter")
        box.send_keys("evt.type = %s or evt.type = %s" % TYPES, Keys.ENTER)
        wait(d, lambda: matching(status.text) != all_count or want == all_count, "the filtered table")
        got = matching(status.text)
        print("event table: %d events, filter %r keeps %d (events.jsonl says %d)" % (all_count, TYPES, got, want))
        if got != want:
            fail("filter kept %s events, expected %d" % (got, want))
        types = {r.find_elements(By.TAG_NAME, "td")[4].text for r in d.find_elements(By.CSS_SELECTOR, "#ev-table tbody tr.ev")}
        if not types or not types <= set(TYPES):
            fail("rows of other types after filtering: %s" % sorted(types))

        # The rest of the language, each expression against the same selection in Python.
        for expr, keep in CASES:
            want_n = sum(1 for e in embedded if keep(e))
            d.execute_script("window.ferretFilter(arguments[0])", expr)
            wait(d, lambda: matching(status.text) == want_n, "%r to keep %d events (table says %r)"
                 % (expr, want_n, status.text))
        print("filter language: %d expressions agree with events.jsonl" % len(CASES))

        for expr, col, words in ERRORS:
            got_err = d.execute_script("return window.ferretParseFilter(arguments[0])", expr)
            if not got_err or got_err["col"] != col or words not in got_err["message"]:
                fail("filter %r: expected an error at column %d naming %r, got %r" % (expr, col, words, got_err))
        print("filter errors: %d bad expressions refused at the right column" % len(ERRORS))

        box.clear()
        box.send_keys("evt.type = execve and", Keys.ENTER)
        err = d.find_element(By.ID, "ev-error")
        wait(d, lambda: err.is_displayed() and "column" in err.text, "the filter error")
        print("bad filter: " + err.text)

        box.clear()
        box.send_keys("evt.type = execve", Keys.ENTER)
        wait(d, lambda: not err.is_displayed(), "the error to clear")

        click(d, "tree-collapse")
        still_open = d.execute_script("return document.querySelectorAll('ul.tree details[open]').length")
        if still_open:
            fail("%d process nodes stay open after collapse all" % still_open)
        click(d, "tree-expand")

        d.execute_script("window.scrollTo(0, 0)")
        d.save_screenshot(shot)
        errors = console_errors(d)
        if errors:
            fail("console errors: %s" % json.dumps(errors))
    finally:
        d.quit()
    check_not_blank(shot)
    print("ok")


if __name__ == "__main__":
    main()
