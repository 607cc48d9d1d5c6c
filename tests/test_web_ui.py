"""The web page at /web, driven in a real headless Chromium (Debian's, through Selenium) against the real
server (real model, real voices); plus the API pieces the page relies on (/v1/config, download_format).

One server and one browser for the module; short texts keep synthesis cheap.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from kokoro_server.api.app import create_app
from kokoro_server.settings import Settings
from kokoro_server.web import STATIC_DIR
from tests.support.audio import SAMPLE_RATE, decode
from tests.support.ci import missing
from tests.support.server import ServerThread, writable_data_dir

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
MAX_CHARS = 2000
SHORT = "Hello there, this is a short test."
THREE_CLAUSES = "The first clause is short. Then a second sentence follows it, a little longer. And a third one ends it."
PARAGRAPHS = "\n\n".join(f"Paragraph {word} is short, and it ends here." for word in (
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"))


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    root = writable_data_dir(tmp_path_factory.mktemp("web-data"), data_dir)
    settings = Settings(data_dir=root, threads=2, max_input_chars=MAX_CHARS, preload=["v1_0"])
    running = ServerThread(settings).start()
    yield running
    running.stop()


def seconds_of_pcm(server: ServerThread, text: str, voice: str, model: str = "v1_0") -> float:
    response = httpx.post(server.url + "/v1/audio/speech", timeout=120, json={
        "model": model, "input": text, "voice": voice, "response_format": "pcm", "stream": False})
    assert response.status_code == 200, response.text
    return len(response.content) / 2 / SAMPLE_RATE


# -- serving the page, and the API it uses (no browser) -------------------------------------------

def test_page_and_its_files_are_served_and_fetch_nothing_from_elsewhere(server):
    assert httpx.get(server.url + "/").headers["location"].endswith("/web/")
    assert httpx.get(server.url + "/web").headers["location"].endswith("/web/")
    page = httpx.get(server.url + "/web/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    names = sorted(p.name for p in STATIC_DIR.iterdir())
    assert names == ["api.js", "app.js", "books.js", "index.html", "player.js", "readalong.js", "scope.js", "style.css",
                     "voices.js"]
    for name in names:
        served = httpx.get(f"{server.url}/web/{name}")
        assert served.status_code == 200, name
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", served.text, re.I), f"{name} names another host"
    assert "javascript" in httpx.get(server.url + "/web/app.js").headers["content-type"]


def test_web_ui_setting_turns_the_page_off(data_dir: Path):
    client = TestClient(create_app(Settings(data_dir=data_dir, web_ui=False)),  # no lifespan: routing only
                        base_url="http://localhost")  # a name the Host check allows
    for path in ("/web/", "/web/app.js", "/"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path


def test_config_tells_the_limits_and_defaults(server):
    config = httpx.get(server.url + "/v1/config").json()
    assert config["max_input_chars"] == MAX_CHARS and config["default_model"] == "v1_0"
    assert config["default_voices"] == {"v1_0": "af_heart", "v0_19": "v0_19/af"}  # ids of the voice list
    assert config["response_formats"] == ["mp3", "opus", "aac", "flac", "wav", "pcm"]
    assert config["speed"] == {"min": 0.25, "max": 4.0} and config["download_links"] is True


def test_download_format_keeps_the_streamed_audio_in_another_format(server):
    body = {"input": SHORT, "voice": "af_heart", "response_format": "pcm", "return_download_link": True,
            "download_format": "flac"}
    with httpx.stream("POST", server.url + "/v1/audio/speech", json=body, timeout=120) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "audio/pcm"
        path = response.headers["x-download-path"]
        streamed = b"".join(response.iter_bytes())
    assert path.startswith("/download/") and path.endswith(".flac")  # relative to /v1
    kept = httpx.get(server.url + "/v1" + path)
    assert kept.status_code == 200 and kept.headers["content-type"] == "audio/flac"
    flac, rate = decode(kept.content, "flac")
    pcm = np.frombuffer(streamed, dtype="<i2")
    assert rate == SAMPLE_RATE and pcm.size > SAMPLE_RATE
    # lossless: the kept file holds exactly the samples that were streamed
    np.testing.assert_array_equal(np.round(flac * 32768).astype(np.int32), pcm.astype(np.int32))

    lone = httpx.post(server.url + "/v1/audio/speech", json={"input": "Hi.", "download_format": "mp3"})
    assert lone.status_code == 400 and lone.json()["error"]["param"] == "download_format"


# -- the page in a browser --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if absent:  # CI installs them (.ci/run): their absence there is a failure, never a skip
        missing(f"the browser tests need Debian's chromium and chromium-driver ({', '.join(absent)} missing; "
                "apt-get install chromium chromium-driver)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--autoplay-policy=no-user-gesture-required", "--window-size=1280,1000"):
        options.add_argument(argument)
    profile = tempfile.TemporaryDirectory(prefix="kokoro-chromium-")
    options.add_argument(f"--user-data-dir={profile.name}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


# How Chromium logs an answer with an error status: "<url> - Failed to load resource: the server
# responded with a status of 424 (Failed Dependency)".
FAILED_LOAD = re.compile(r"(?P<url>\S+) - Failed to load resource: the server responded with a status of "
                         r"(?P<status>\d{3})")


@pytest.fixture
def expected_errors() -> list[tuple[str, int]]:
    """(path, status) of the API answers a test provokes on purpose (the browser logs each as a
    console error); every other error in the console, a 500 above all, fails the test."""
    return []


@pytest.fixture
def page(browser, server, expected_errors: list[tuple[str, int]]):
    """/web freshly loaded and ready; afterwards the browser's console must hold no error but the
    answers the test expects."""
    browser.set_window_size(1280, 1000)
    browser.get(server.url + "/web")
    wait_for(browser, lambda d: d.execute_script("return document.body.dataset.state") == "ready", 60)
    yield browser
    errors = []
    for entry in browser.get_log("browser"):
        if entry["level"] != "SEVERE" or "/favicon" in entry["message"]:
            continue
        failed = FAILED_LOAD.search(entry["message"])
        if failed and (urlsplit(failed["url"]).path, int(failed["status"])) in expected_errors:
            continue
        errors.append(entry)
    assert not errors, errors


def wait_for(driver, condition, timeout: float = 60):
    """Wait until ``condition`` holds; elements replaced while it looks (a re-rendered list) just retry."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=[StaleElementReferenceException]).until(condition)


def by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def state_of(driver) -> str:
    return driver.execute_script("return document.body.dataset.state")


def visible_errors(driver) -> dict[str, str]:
    return {e.get_attribute("data-error-for"): e.text for e in css(driver, "[data-error-for]") if e.is_displayed()}


def listed_voices(driver) -> list[str]:
    return [e.get_attribute("value") for e in css(driver, "#voice-list input[name=voice]")]


def type_text(driver, text: str) -> None:
    area = by_id(driver, "text")
    area.clear()
    area.send_keys(text)


def test_versions_voices_mix_and_errors(page, server, expected_errors):
    expected_errors.append(("/v1/audio/speech", 424))  # v0.19 is asked for below: its weights are missing
    cards = {e.find_element("css selector", "input").get_attribute("value"): e for e in css(page, ".version-card")}
    assert set(cards) == {"v1_0", "v0_19"}
    assert re.search(r"\b(Loaded|Ready)\b", cards["v1_0"].text) and "default" in cards["v1_0"].text
    assert "Unavailable" in cards["v0_19"].text and "kokoro-v0_19.onnx" in cards["v0_19"].text
    assert "kokoro-server download -m v0_19" in cards["v0_19"].text  # the reason, with the fix

    api_v1 = [v["id"] for v in httpx.get(server.url + "/v1/audio/voices?model=v1_0").json()["voices"]]
    assert sorted(listed_voices(page)) == sorted(api_v1)
    assert css(page, "#voice-list input[value=af_heart]")[0].is_selected()
    heart = css(page, "#voice-list input[value=af_heart]")[0].find_element("xpath", "..")
    assert "female" in heart.text and "Heart" in heart.text
    groups = [e.get_attribute("textContent") for e in css(page, ".voice-group h4")]
    assert groups[0].startswith("English (US)") and len(groups) == 9  # every v1.0 language, all speakable
    assert not any(g.endswith("no offline text front end yet") for g in groups)

    search = by_id(page, "voice-search")
    search.send_keys("uk male")
    shown = [e.get_attribute("value") for e in css(page, "#voice-list input[name=voice]") if e.is_displayed()]
    assert shown == sorted(v for v in api_v1 if v.startswith("bm_")), shown
    search.clear()
    search.send_keys("zzz-nothing")
    assert by_id(page, "voice-none").is_displayed()
    search.clear()
    search.send_keys(" ")  # an input event: the whole list shows again
    assert len([e for e in css(page, "#voice-list input[name=voice]") if e.is_displayed()]) == len(api_v1)

    # the mix builder: af_bella chosen, af_sky added, weights 2 and 1
    page.execute_script("arguments[0].click()", css(page, "#voice-list input[value=af_bella]")[0])
    from selenium.webdriver.support.ui import Select

    Select(by_id(page, "mix-add")).select_by_value("af_sky")
    by_id(page, "mix-add-button").click()
    weight = css(page, "input.weight[data-voice=af_bella]")[0]
    weight.clear()
    weight.send_keys("2")
    assert by_id(page, "mix-string").text == "af_bella(2)+af_sky(1)"
    by_id(page, "mix-name").send_keys("af_webmix")
    by_id(page, "mix-save").click()
    wait_for(page, lambda d: by_id(d, "mix-saved").is_displayed() or visible_errors(d), 30)
    assert not visible_errors(page) and "af_webmix" in by_id(page, "mix-saved").text
    assert (server.serving.settings.data_dir / "voices" / "v1_0" / "af_webmix.pt").is_file()
    assert css(page, "#voice-list input[value=af_webmix]")[0].is_selected()
    assert by_id(page, "mix-string").text == "af_webmix"

    # another version: its own voices
    cards["v0_19"].click()
    wait_for(page, lambda d: "af_heart" not in listed_voices(d) and listed_voices(d))
    api_v0 = [v["id"] for v in httpx.get(server.url + "/v1/audio/voices?model=v0_19").json()["voices"]]
    assert sorted(listed_voices(page)) == sorted(api_v0) != sorted(api_v1)
    assert all(v.startswith("v0_19/") for v in api_v0)  # unique ids: the other version's names carry it
    assert css(page, "#voice-list input[value='v0_19/af']")[0].is_selected()  # v0.19's default voice

    # generating with it: the API's error (weights missing) shows next to the version selector
    type_text(page, "Hi.")
    by_id(page, "generate").click()
    wait_for(page, lambda d: state_of(d) == "error")
    errors = visible_errors(page)
    assert set(errors) == {"model"}, errors
    assert "kokoro-v0_19.onnx" in errors["model"] and "cannot run" in errors["model"]
    assert by_id(page, "versions").get_attribute("aria-invalid") == "true"
    assert server.serving.runner.record(page.execute_script("return document.body.dataset.requestId")) is None

    # a local check: over the limit, said next to the text, nothing sent
    page.execute_script("const t = document.getElementById('text'); t.value = 'a'.repeat(arguments[0]);"
                        "t.dispatchEvent(new Event('input'))", MAX_CHARS + 1)
    assert by_id(page, "char-count").text == f"{MAX_CHARS + 1:,} / {MAX_CHARS:,}"
    by_id(page, "generate").click()
    assert set(visible_errors(page)) == {"input"} and "at most 2,000" in visible_errors(page)["input"]

    # every control has a name; nothing overflows a phone-width screen; nothing came from elsewhere
    unnamed = page.execute_script("""
        return [...document.querySelectorAll('input, select, textarea, button')]
          .filter(e => !e.closest('[hidden]') && !e.labels?.length && !e.getAttribute('aria-label')
                       && !e.getAttribute('aria-labelledby') && !e.textContent.trim())
          .map(e => e.id || e.outerHTML.slice(0, 80));""")
    assert not unnamed, unnamed
    page.set_window_size(390, 900)
    wait_for(page, lambda d: d.execute_script("return innerWidth") <= 400)
    assert page.execute_script("return document.documentElement.scrollWidth <= innerWidth")
    origins = page.execute_script("return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert set(origins) <= {server.url}, origins


def test_generate_streams_plays_and_offers_the_download(page, server):
    # record what the status line says while the request is running (the page's own progress text)
    page.execute_script("""
        window.seen = [];
        new MutationObserver(() => seen.push([document.body.dataset.state,
                                              document.getElementById('status').textContent]))
          .observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true});""")
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    Select(by_id(page, "format")).select_by_value("flac")
    type_text(page, THREE_CLAUSES)
    assert by_id(page, "char-count").text == f"{len(THREE_CLAUSES)} / {MAX_CHARS:,}"
    by_id(page, "text").send_keys(Keys.CONTROL, Keys.ENTER)  # the keyboard shortcut
    wait_for(page, lambda d: state_of(d) not in ("ready", "connecting", "streaming"), 120)
    assert state_of(page) == "done", visible_errors(page)
    duration = wait_for(page, lambda d: d.execute_script(
        "const a = document.getElementById('player'); return a.readyState >= 1 && a.duration"), 30)

    expected = seconds_of_pcm(server, THREE_CLAUSES, "af_heart")
    assert abs(duration - expected) <= 0.1 * expected, (duration, expected)
    seen = page.execute_script("return seen")
    played = [float(m.group(1)) for state, text in seen if state == "streaming"
              for m in [re.search(r"received, ([\d.]+) s played", text)] if m]
    assert any(p > 0 for p in played), seen  # playback had begun while the rest was still being made
    record = server.serving.runner.record(page.execute_script("return document.body.dataset.requestId"))
    assert record is not None and record.status == "finished" and record.chunks >= 2

    link = by_id(page, "download")
    assert link.is_displayed() and link.text == "Download FLAC"
    href = link.get_attribute("href")
    assert re.search(r"/v1/download/[\w-]+\.flac$", href) and link.get_attribute("download").endswith(".flac")
    kept, _ = decode(httpx.get(href).content, "flac")
    assert abs(kept.size / SAMPLE_RATE - expected) <= 0.1 * expected
    lit = page.execute_script("""
        const c = document.getElementById('scope'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n / (c.width * c.height);""")
    assert lit > 0.01  # the waveform is drawn

    ARTIFACTS.mkdir(exist_ok=True)
    wait_for(page, lambda d: d.execute_script("return document.getElementById('stop').disabled"), 30)  # played out
    page.set_window_size(1280, page.execute_script("return document.documentElement.scrollHeight") + 140)
    page.save_screenshot(str(ARTIFACTS / "web-main.png"))


def test_stop_cancels_the_synthesis_on_the_server(page, server):
    runner = server.serving.runner
    type_text(page, PARAGRAPHS)  # twelve paragraphs: twelve chunks
    by_id(page, "generate").click()
    wait_for(page, lambda d: state_of(d) == "streaming", 120)
    request_id = page.execute_script("return document.body.dataset.requestId")
    by_id(page, "stop").click()
    wait_for(page, lambda d: state_of(d) == "stopped", 30)
    assert "Stopped" in by_id(page, "status").text and not visible_errors(page)
    assert by_id(page, "generate").is_enabled()

    record = runner.record(request_id)
    assert record is not None
    deadline = time.monotonic() + 60
    while record.status == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.status == "cancelled"
    assert record.chunks < 12, record.chunks  # the rest was never synthesized
    assert runner.running == 0
    link = by_id(page, "download")
    assert link.is_displayed() and "part received" in link.text  # what arrived stays playable


def test_markup_toggle_and_help(page, server, expected_errors):
    expected_errors.append(("/v1/audio/speech", 400))  # [voice:af_nobody] below: no such voice
    from selenium.webdriver.common.keys import Keys

    toggle = by_id(page, "markup")
    assert toggle.is_selected()  # markup is read by default
    help_box = by_id(page, "markup-help")
    help_box.find_element("css selector", "summary").click()
    assert "[pause:1.5s]" in help_box.text and "<speak>" in help_box.text
    type_text(page, "[voice:af_nobody] Hello.")
    by_id(page, "text").send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for(page, lambda d: "input" in visible_errors(d), 60)
    assert "af_nobody" in visible_errors(page)["input"]  # the tag was read: no such voice
    toggle.click()
    by_id(page, "text").send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for(page, lambda d: state_of(d) not in ("ready", "connecting", "streaming"), 120)
    assert state_of(page) == "done", visible_errors(page)  # off: the brackets are just text
    toggle.click()


READ_ALONG = ("The read-along follows the voice word by word. When the text is longer than its box, the box "
              "scrolls so that the word being spoken stays in view, and a click on a word plays from there.")


def test_read_along_highlights_the_word_being_heard_and_seeks_on_click(page, server):
    page.set_window_size(390, 900)  # a phone: the text wraps into more lines than its box shows
    page.execute_script("""
        window.spoken = [];
        new MutationObserver(() => {
          const words = [...document.querySelectorAll('#read-along .word')];
          const now = words.findIndex(w => w.classList.contains('spoken'));
          if (now >= 0 && spoken[spoken.length - 1] !== now) spoken.push(now);
        }).observe(document.getElementById('read-along'), {attributes: true, subtree: true, childList: true});""")
    type_text(page, READ_ALONG)
    by_id(page, "generate").click()
    wait_for(page, lambda d: state_of(d) not in ("ready", "connecting", "streaming"), 120)
    assert state_of(page) == "done", visible_errors(page)
    box = by_id(page, "read-along")
    words = css(page, "#read-along .word")
    assert box.is_displayed() and box.text == READ_ALONG
    alnum = lambda text: re.sub(r"\W", "", text)  # noqa: E731
    assert alnum("".join(w.text for w in words)) == alnum(READ_ALONG)  # every word of the text, in order
    assert len(words) >= len(READ_ALONG.split())
    starts = [float(w.get_attribute("data-start")) for w in words]
    assert starts == sorted(starts) and starts[0] < 0.5

    wait_for(page, lambda d: d.execute_script("return document.getElementById('stop').disabled"), 90)  # played out
    spoken = page.execute_script("return spoken")
    assert len(set(spoken)) >= len(words) // 2 and spoken == sorted(spoken), spoken  # it moved along, in order

    last = words[-1]
    last.click()  # plays the clip from that word
    wait_for(page, lambda d: d.execute_script("return !document.getElementById('player').paused"), 10)
    position = page.execute_script("return document.getElementById('player').currentTime")
    assert starts[-1] - 0.05 <= position <= starts[-1] + 1.0, (position, starts[-1])
    assert "spoken" in last.get_attribute("class") and last.get_attribute("aria-current") == "true"
    inside = page.execute_script("""
        const box = document.getElementById('read-along'), word = arguments[0];
        return [box.scrollTop, box.scrollHeight > box.clientHeight,
                word.offsetTop >= box.scrollTop && word.offsetTop + word.offsetHeight <= box.scrollTop + box.clientHeight];""",
        last)
    assert inside[1] and inside[0] > 0 and inside[2], inside  # the box scrolled to the word being heard

    srt, vtt = by_id(page, "captions-srt"), by_id(page, "captions-vtt")
    assert srt.is_displayed() and vtt.is_displayed()
    assert srt.get_attribute("href").endswith(".srt") and vtt.get_attribute("href").endswith(".vtt")
    captions = httpx.get(vtt.get_attribute("href"))
    assert captions.status_code == 200 and captions.headers["content-type"].startswith("text/vtt")
    assert captions.text.startswith("WEBVTT") and "The read-along follows" in captions.text
    assert httpx.get(srt.get_attribute("href")).text.startswith("1\n00:00:00,")
    page.execute_script("document.getElementById('player').pause()")
