"""Open a Snakemake report in a real headless Chromium (Debian's chromium and chromium-driver).

Used by the report test and by ``docs/report_screenshot.py``. Chromium runs with the
flags this closed network needs (no background networking, no component updates).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000"]


def missing() -> str | None:
    """Why no browser can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).exists() and not shutil.which(Path(exe).name):
            return f"{exe} is missing (apt-get install chromium chromium-driver)"
    return None


class Report:
    """A report page in headless Chromium: ``text()``, ``click(label)``, ``errors()``, ``screenshot(path)``."""

    def __init__(self, html: str | Path, profile_dir: str | Path):
        self.profile_dir = Path(profile_dir)
        self.uri = Path(html).resolve().as_uri()
        self.driver = self._start()
        self.home()

    def _start(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        for flag in FLAGS + [f"--user-data-dir={self.profile_dir}"]:
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")
        d = webdriver.Chrome(service=Service(driver), options=opts)
        d.set_page_load_timeout(120)
        return d

    def restart(self) -> None:
        """A new browser session on the same profile (after chromedriver lost its page)."""
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001  (a browser that is already gone)
            pass
        self.driver = self._start()

    def home(self, attempts: int = 4) -> None:
        """(Re)load the report's start page. The page is left for ``about:blank`` first and then loaded afresh,
        so no ``refresh()`` races the report's own start-up navigation. chromedriver now and then still loses
        the page ("aborted by navigation: Not attached to an active page"), most often on a loaded machine:
        then it loads again, up to ``attempts`` times, the last in a new browser session."""
        from selenium.common.exceptions import WebDriverException

        for attempt in range(attempts):
            try:
                if attempt == attempts - 1:
                    self.restart()
                self.driver.get("about:blank")
                self.driver.get(self.uri)
                self.wait_for("RESULTS")
                return
            except (WebDriverException, TimeoutError):
                if attempt == attempts - 1:
                    raise
                time.sleep(1 + attempt)

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_for(self, text: str, timeout: float = 30) -> None:
        end = time.time() + timeout
        while text.lower() not in self.text().lower():
            if time.time() > end:
                raise TimeoutError(f"'{text}' did not appear in the report page")
            time.sleep(0.2)

    def click(self, label: str, then: str | None = None) -> None:
        """Click the element whose text is ``label``; wait until ``then`` shows (default: a moment)."""
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.XPATH, f"//*[normalize-space(text())='{label}']").click()
        if then:
            self.wait_for(then)
        else:
            time.sleep(0.5)

    def errors(self) -> list[str]:
        """Console messages of level SEVERE (uncaught exceptions, failed loads)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def images(self) -> list[tuple[int, int]]:
        """Natural sizes of the images the page shows (0 x 0: a broken image)."""
        from selenium.webdriver.common.by import By

        return [(int(i.get_attribute("naturalWidth") or 0), int(i.get_attribute("naturalHeight") or 0))
                for i in self.driver.find_elements(By.TAG_NAME, "img")]

    def screenshot(self, path: str | Path) -> None:
        self.driver.save_screenshot(str(path))

    def close(self) -> None:
        self.driver.quit()


def _row(report: Report, name: str):
    from selenium.webdriver.common.by import By

    return report.driver.find_element(By.XPATH, f"//tr[td[normalize-space(text())='{name}']]")


def view(report: Report, name: str) -> None:
    """Open a result (the eye button of its row) and wait for it to render."""
    from selenium.webdriver.common.by import By

    _row(report, name).find_element(By.XPATH, ".//a[@iconname='eye']").click()
    time.sleep(1.5)


def info(report: Report, name: str) -> str:
    """The caption of a result (its information button)."""
    from selenium.webdriver.common.by import By

    _row(report, name).find_element(By.XPATH, ".//a[@iconname='information-circle']").click()
    time.sleep(0.8)
    return report.text()
