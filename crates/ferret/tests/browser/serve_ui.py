"""Drives the ferret serve web UI in headless Chromium: logs in with a token, submits a
file, waits for its report page, filters the event table (server-side filter; the row
count must follow the server's total), checks a bad filter is reported, checks the task
list shows the task done, and saves a screenshot that must not be blank.

usage: serve_ui.py BASE_URL TOKEN SAMPLE SCREENSHOT_PNG
"""

import json
import os
import re
import sys
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from common import check_not_blank, console_errors, driver, fail


def wait(d, cond, what, timeout=30):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # the page may be reloading under us
            last = e
        time.sleep(0.2)
    fail("timed out waiting for %s (url %s, last error %r); console: %s"
         % (what, d.current_url, last, json.dumps(console_errors(d))))


def status_numbers(text):
    m = re.search(r"showing (\d+) of (\d+) matching", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def click(d, element_id):
    el = d.find_element(By.ID, element_id)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def main():
    base, token, sample, shot = sys.argv[1:5]
    d = driver()
    try:
        # Without a session the UI sends the browser to the login page.
        d.get(base + "/tasks")
        wait(d, lambda: d.find_elements(By.ID, "token"), "the login page")
        d.find_element(By.ID, "token").send_keys("not-a-token")
        click(d, "login-submit")
        wait(d, lambda: "invalid" in d.page_source or "revoked" in d.page_source, "the login refusal")
        d.find_element(By.ID, "token").send_keys(token)
        click(d, "login-submit")
        wait(d, lambda: d.find_elements(By.ID, "tasks-body"), "the task list after login")
        print("logged in: " + d.current_url)

        # Submit the sample.
        click(d, "nav-submit")
        wait(d, lambda: d.find_elements(By.ID, "sub-file"), "the submission page")
        Select(d.find_element(By.ID, "sub-kind")).select_by_value("file")
        d.find_element(By.ID, "sub-file").send_keys(os.path.abspath(sample))
        t = d.find_element(By.ID, "sub-timeout")
        t.clear()
        t.send_keys("20")
        Select(d.find_element(By.ID, "sub-net")).select_by_value("none")
        click(d, "sub-go")
        wait(d, lambda: re.search(r"/tasks/\d+$", d.current_url), "the task page after submission")
        task_url = d.current_url
        print("submitted: " + task_url)

        # The waiting page reloads into the report when the analysis is done.
        wait(d, lambda: d.find_elements(By.ID, "ev-table"), "the report page", timeout=240)
        verdict = d.find_element(By.ID, "verdict").text
        links = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "#downloads a")]
        print("report: verdict %s, downloads %s" % (verdict, [l.rsplit("/", 1)[-1] for l in links]))
        if not any(l.endswith("/report") for l in links):
            fail("no report.json download link: %s" % links)
        status = d.find_element(By.ID, "ev-status")
        wait(d, lambda: status_numbers(status.text), "the event table")
        shown_all, total_all = status_numbers(status.text)
        if total_all < 5:
            fail("the server returned only %d events" % total_all)

        box = d.find_element(By.ID, "ev-filter")
        box.send_keys("evt.type = execve or evt.type = openat", Keys.ENTER)
        wait(d, lambda: status_numbers(status.text) and status_numbers(status.text)[1] != total_all,
             "the filtered table")
        shown, total = status_numbers(status.text)
        rows = d.find_elements(By.CSS_SELECTOR, "#ev-table tbody tr.ev")
        types = {r.find_elements(By.TAG_NAME, "td")[4].text for r in rows}
        print("event table: %d events; the filter keeps %d (%d rows shown, types %s)"
              % (total_all, total, len(rows), sorted(types)))
        if not rows or not types <= {"execve", "openat"} or total >= total_all or len(rows) != shown:
            fail("the filter did not narrow the table")

        box.clear()
        box.send_keys("evt.type = = execve", Keys.ENTER)
        err = d.find_element(By.ID, "ev-error")
        wait(d, lambda: err.is_displayed() and err.text, "the server's filter error")
        print("bad filter: " + err.text)

        box.clear()
        box.send_keys("proc.name exists", Keys.ENTER)
        wait(d, lambda: not err.is_displayed(), "the error to clear")

        loaded = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        foreign = [u for u in loaded if not u.startswith(base + "/")]
        if foreign:
            fail("the page fetched from elsewhere: %s" % foreign)
        d.execute_script("window.scrollTo(0, 0)")
        d.save_screenshot(shot)
        # The refused login (401) and the bad filter (400) were provoked on purpose.
        expected = [("/login", "401"), ("/events", "400")]
        errors = [e for e in console_errors(d)
                  if not (e.get("source") == "network"
                          and any(p in e.get("message", "") and c in e.get("message", "") for p, c in expected))]
        if errors:
            fail("console errors: %s" % json.dumps(errors))

        # The task list shows the task done, live from the API.
        click(d, "nav-tasks")
        task_id = task_url.rsplit("/", 1)[-1]
        wait(d, lambda: any(r.text.startswith("#" + task_id) and " done " in " " + r.text + " "
                            for r in d.find_elements(By.CSS_SELECTOR, "#tasks-body tr")),
             "the task list row")
        print("task list shows #%s done" % task_id)
    finally:
        d.quit()
    check_not_blank(shot)
    print("ok")


if __name__ == "__main__":
    main()
