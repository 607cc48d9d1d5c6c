// Read-along: the text that was spoken, word by word, with the word being heard highlighted.
// Words come from the server's speech.audio.words events ({word, start_time, end_time, char_start,
// char_end}, times in seconds from the start of the clip, characters of the text that was sent).

export class ReadAlong {
  constructor(box, { onseek } = {}) {
    this.box = box;
    this.onseek = onseek; // called with a time (s) when a word is clicked
    this.clear();
    box.addEventListener("click", (event) => {
      const word = event.target.closest("[data-start]");
      if (word && this.onseek) this.onseek(Number(word.dataset.start));
    });
    box.addEventListener("keydown", (event) => {
      const word = event.target.closest("[data-start]");
      if (word && (event.key === "Enter" || event.key === " ") && this.onseek) {
        event.preventDefault();
        this.onseek(Number(word.dataset.start));
      }
    });
  }

  /** Starts over with the text the words will point into. */
  clear(text = "") {
    this.text = text;
    this.words = []; // {start, end, element}, in order
    this.shown = 0; // characters of the text already in the box
    this.current = -1;
    this.box.replaceChildren();
    this.box.hidden = !text;
  }

  /** Adds the words of one delta; the text between words stays plain. */
  add(words) {
    for (const word of words) {
      if (word.char_start < this.shown) continue; // never twice, never out of order
      if (word.char_start > this.shown) this.box.append(this.text.slice(this.shown, word.char_start));
      const span = document.createElement("span");
      span.className = "word";
      span.textContent = this.text.slice(word.char_start, word.char_end);
      span.dataset.start = String(word.start_time);
      span.dataset.end = String(word.end_time);
      span.tabIndex = -1;
      this.box.append(span);
      this.words.push({ start: word.start_time, end: word.end_time, element: span });
      this.shown = word.char_end;
    }
  }

  /** All words are in: the rest of the text follows, and words become keyboard-reachable. */
  finish() {
    if (this.shown < this.text.length) this.box.append(this.text.slice(this.shown));
    this.shown = this.text.length;
    for (const { element } of this.words) element.tabIndex = 0;
  }

  /** Highlights the word being heard at ``seconds`` (the last one started); -1 or past: none. */
  show(seconds) {
    let index = -1;
    let low = 0;
    let high = this.words.length - 1;
    while (low <= high) { // the last word whose start is <= seconds
      const middle = (low + high) >> 1;
      if (this.words[middle].start <= seconds) {
        index = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    if (index >= 0 && seconds > this.words[index].end + 0.5) index = -1; // in a long pause
    if (index === this.current) return;
    if (this.current >= 0) {
      this.words[this.current].element.classList.remove("spoken");
      this.words[this.current].element.removeAttribute("aria-current");
    }
    this.current = index;
    if (index < 0) return;
    const element = this.words[index].element;
    element.classList.add("spoken");
    element.setAttribute("aria-current", "true");
    this.follow(element);
  }

  /** Keeps the highlighted word in view inside the box (the page itself does not scroll). */
  follow(element) {
    const box = this.box; // positioned: the words' offsetParent
    const top = element.offsetTop;
    if (top < box.scrollTop || top + element.offsetHeight > box.scrollTop + box.clientHeight) {
      box.scrollTop = Math.max(0, top - box.clientHeight / 3);
    }
  }
}
