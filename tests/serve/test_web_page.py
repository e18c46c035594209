"""The chat page end to end in headless Chromium: type a problem, watch it think, read
the answer and the summary.

Needs Debian's ``chromium`` and ``chromium-driver`` packages (the Makefile installs
them). Without them this test fails, on purpose: the page is part of what ponder ships.
"""

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.serve.fakes import FakeReasoner

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture
def browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: install Debian's chromium and "
                    "chromium-driver packages (apt-get install chromium chromium-driver; "
                    "the Makefile's set-up does this)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ponder-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_page_thinks_then_shows_answer_and_summary(browser, make_engine, live):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    engine = make_engine(FakeReasoner(delay_s=0.15), samples_per_call=1)
    url = live(engine, progress_s=0.03)
    browser.get(url + "/")
    wait = WebDriverWait(browser, 30, poll_frequency=0.02)
    wait.until(ec.text_to_be_present_in_element((By.ID, "model"), "fake-reasoner"))
    Select(browser.find_element(By.ID, "effort")).select_by_value("medium")
    Select(browser.find_element(By.ID, "summary-style")).select_by_value("detailed")
    browser.find_element(By.ID, "question").send_keys("What is 17 + 25?")
    browser.find_element(By.ID, "send").click()

    # 5 samples, 0.15 s each: while it thinks, the indicator counts time and tokens
    indicator = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".thinking")))
    seen = wait.until(lambda d: re.fullmatch(r"Thinking\.\.\. \d+\.\d s · [1-9]\d* reasoning "
                                             r"tokens", indicator.text))
    assert seen

    turn = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, ".turn[data-state='done']")))
    assert turn.find_element(By.CSS_SELECTOR, ".answer").text == "Answer: 42"
    assert not turn.find_elements(By.CSS_SELECTOR, ".thinking")
    details = turn.find_element(By.CSS_SELECTOR, "details.summary")
    label = details.find_element(By.TAG_NAME, "summary")
    assert "Thought for" in label.text and "reasoning tokens" in label.text
    assert "effort medium" in label.text and "5 samples" in label.text
    body = details.find_element(By.CSS_SELECTOR, ".parts")
    assert not body.is_displayed()  # collapsed until clicked
    label.click()
    wait.until(lambda d: body.is_displayed())
    assert "Key results: a = 17; b = 42." in body.text
    assert "check: 42 - 25 = 17 ok" in body.text
    assert "a + 25" not in browser.page_source  # the raw thinking never reaches the page


def test_page_shows_api_errors(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(ec.text_to_be_present_in_element((By.ID, "model"), "fake-reasoner"))
    browser.find_element(By.ID, "question").send_keys("What is 1 + 1? \u00e9")
    browser.find_element(By.ID, "send").click()
    turn = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, ".turn[data-state='error']")))
    assert "outside the model's vocabulary" in turn.find_element(By.CSS_SELECTOR, ".error").text
