"""The web page's Books panel in headless Chromium against the real server: upload an EPUB, see its
chapters, start a job with one chapter, watch it finish, play the chapter with the read-along."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.books import make_epub
from tests.support.server import ServerThread, writable_data_dir
from tests.test_web_ui import browser, by_id, css, wait_for  # noqa: F401 - browser is a fixture

SERVER_CHECKS = "return document.body.dataset.state"
pytestmark = pytest.mark.slow  # a real job in a real browser


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from kokoro_server.settings import Settings

    root = writable_data_dir(tmp_path_factory.mktemp("books-web"), data_dir)
    running = ServerThread(Settings(data_dir=root, threads=2, preload=["v1_0"])).start()
    yield running
    running.stop()


def test_books_panel_reads_starts_watches_and_plays_a_chapter(browser, server, tmp_path: Path) -> None:  # noqa: F811
    book = make_epub(tmp_path / "small.epub")
    browser.get(server.url + "/web")
    wait_for(browser, lambda d: d.execute_script(SERVER_CHECKS) == "ready", 60)
    by_id(browser, "book-file").send_keys(str(book))
    by_id(browser, "book-read").click()
    wait_for(browser, lambda d: len(css(d, "#book-chapters input[type=checkbox]")) == 4, 60)
    assert "The Small Book by Ada Writer" in by_id(browser, "book-details").text
    boxes = {box.get_attribute("value"): box for box in css(browser, "#book-chapters input[type=checkbox]")}
    assert [boxes[n].is_selected() for n in "1234"] == [True, True, True, False]  # the copyright page is back matter
    boxes["2"].click()
    boxes["3"].click()
    by_id(browser, "book-start").click()
    wait_for(browser, lambda d: "completed" in by_id(d, "book-status").text, 300)
    assert [b.text for b in css(browser, "#book-details button")] == ["Download the audiobook (M4B)"]
    [play] = [b for b in css(browser, "#book-chapters button") if b.text == "Play"]
    play.click()
    wait_for(browser, lambda d: d.execute_script(
        "const p = document.getElementById('book-player'); return !p.paused && p.currentTime > 0.3"), 60)
    words = [w.text for w in css(browser, "#book-read-along .word")]
    assert words[:3] == ["The", "Harbor", "The"]
    wait_for(browser, lambda d: css(d, "#book-read-along .word.spoken"), 30)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "/favicon" not in e["message"]]
    assert not errors, errors
