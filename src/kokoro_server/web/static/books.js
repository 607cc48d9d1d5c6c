// Books: upload a book, see its chapters, start a job, watch it, download the M4B or a chapter, and
// play a finished chapter with the read-along. The voice and speed are the page's own controls.

import { ApiError, apiFetch, apiUrl, getJson, savedApiKey, serverEvents } from "./api.js";
import { ReadAlong } from "./readalong.js";

const $ = (id) => document.getElementById(id);
const ui = {
  file: $("book-file"), read: $("book-read"), start: $("book-start"), status: $("book-status"),
  details: $("book-details"), chapters: $("book-chapters"), progress: $("book-progress"),
  jobs: $("book-jobs"), player: $("book-player"), readAlong: $("book-read-along"), error: $("book-error"),
  frontMatter: $("book-front-matter"), backMatter: $("book-back-matter"), nowPlaying: $("book-now-playing"),
};
const state = { preview: null, job: null, watching: null, blobUrl: null };
const readAlong = new ReadAlong(ui.readAlong, { onseek: (seconds) => { ui.player.currentTime = seconds; } });

function showError(error) {
  ui.error.textContent = error instanceof ApiError ? error.message : `Something went wrong in the page: ${error.message}`;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

function minutes(seconds) {
  if (seconds == null) return "";
  return seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

function form(extra = {}) {
  const body = new FormData();
  body.append("file", ui.file.files[0]);
  const voice = $("mix-string")?.textContent.trim();
  if (voice && voice !== "…") body.append("voice", voice);
  const speed = $("speed")?.value;
  if (speed) body.append("speed", speed);
  if (ui.frontMatter.checked) body.append("front_matter", "true");
  if (ui.backMatter.checked) body.append("back_matter", "true");
  for (const [key, value] of Object.entries(extra)) body.append(key, value);
  return body;
}

async function readBook() {
  clearError();
  if (!ui.file.files.length) return showError(new Error("choose a book file first"));
  ui.read.disabled = true;
  ui.status.textContent = "Reading the book…";
  try {
    state.preview = await (await apiFetch("/v1/audio/jobs/preview", { method: "POST", body: form() })).json();
    showPreview(state.preview);
    ui.start.disabled = false;
    ui.status.textContent = "Choose the chapters, then start.";
  } catch (error) {
    showError(error);
    ui.status.textContent = "";
  } finally {
    ui.read.disabled = false;
  }
}

function showPreview(book) {
  const line = [book.title || "(no title)", book.author && `by ${book.author}`, book.language && `[${book.language}]`]
    .filter(Boolean).join(" ");
  ui.details.textContent = `${line}. Voice ${book.voice}; about ${minutes(book.estimated_audio_seconds)} of audio.`;
  ui.chapters.replaceChildren(...book.chapters.map((chapter) => {
    const item = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = String(chapter.number);
    box.checked = chapter.selected;
    label.append(box, ` ${chapter.number}. ${chapter.title}`);
    const note = document.createElement("span");
    note.className = "muted";
    note.textContent = ` ${chapter.kind === "body" ? "" : chapter.kind + " matter, "}${chapter.chars.toLocaleString()} characters`;
    item.append(label, note);
    return item;
  }));
}

function chosenChapters() {
  const numbers = [...ui.chapters.querySelectorAll("input:checked")].map((box) => box.value);
  return numbers.join(",");
}

async function startJob() {
  clearError();
  const chapters = chosenChapters();
  if (!chapters) return showError(new Error("choose at least one chapter"));
  ui.start.disabled = true;
  try {
    const job = await (await apiFetch("/v1/audio/jobs", { method: "POST", body: form({ chapters }) })).json();
    watch(job.id);
    await listJobs();
  } catch (error) {
    showError(error);
    ui.start.disabled = false;
  }
}

const ENDED = ["completed", "failed", "cancelled"];

async function watch(jobId) {
  state.watching?.abort();
  const controller = new AbortController();
  state.watching = controller;
  try {
    let ended = false;
    while (!ended && state.watching === controller) { // the server ends a stream after a while: reconnect
      const response = await apiFetch(`/v1/audio/jobs/${jobId}/events`, { signal: controller.signal });
      for await (const event of serverEvents(response)) {
        if (event.job) showJob(event.job);
        ended = ended || event.type === "job.deleted" || ENDED.includes(event.job?.status);
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") showError(error);
  }
  if (state.watching === controller) await listJobs();
}

function showJob(job) {
  state.job = job;
  const { progress } = job;
  ui.progress.value = progress.fraction;
  const left = progress.seconds_left != null ? `, about ${minutes(progress.seconds_left)} left` : "";
  const phase = job.phase === "assembling" ? " (writing the audiobook)" : "";
  ui.status.textContent = `${job.title || job.id}: ${job.status}${phase}, ${Math.round(progress.fraction * 100)}%, ` +
    `${minutes(progress.audio_seconds)} of audio${job.status === "running" ? left : ""}` +
    (job.error ? `. ${job.error.message}` : "");
  ui.chapters.replaceChildren(...job.chapters.filter((c) => c.status !== "skipped").map((chapter) => {
    const item = document.createElement("li");
    item.append(`${chapter.number}. ${chapter.title}: ${chapter.status}`);
    if (chapter.status === "completed") {
      const play = document.createElement("button");
      play.type = "button";
      play.textContent = "Play";
      play.addEventListener("click", () => playChapter(job, chapter));
      const save = document.createElement("button");
      save.type = "button";
      save.textContent = "Download";
      save.addEventListener("click", () => download(`/v1/audio/jobs/${job.id}/chapters/${chapter.number}`,
        `${chapter.number}-${chapter.title}.mp3`));
      item.append(" ", play, " ", save);
    }
    return item;
  }));
  ui.details.textContent = `${job.title || ""}${job.author ? ` by ${job.author}` : ""}. Voice ${job.voice}.`;
  if (job.status === "completed") {
    const save = document.createElement("button");
    save.type = "button";
    save.className = "primary";
    save.textContent = job.format === "m4b" ? "Download the audiobook (M4B)" : "Download the chapters (zip)";
    save.addEventListener("click", () => download(job.result_url, `${job.title || job.id}.${job.format === "m4b" ? "m4b" : "zip"}`));
    ui.details.append(" ", save);
  }
}

/** Files need the API key when the server has one: fetched then, else plain links. */
async function download(path, name) {
  clearError();
  try {
    let href = apiUrl(path);
    if (savedApiKey()) href = URL.createObjectURL(await (await apiFetch(path)).blob());
    const link = document.createElement("a");
    link.href = href;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) {
    showError(error);
  }
}

async function playChapter(job, chapter) {
  clearError();
  try {
    const base = `/v1/audio/jobs/${job.id}/chapters/${chapter.number}`;
    const [text, captions] = await Promise.all([
      (await apiFetch(`${base}?format=text`)).text(),
      job.captions ? getJson(`${base}?format=json`) : Promise.resolve({ words: [] }),
    ]);
    if (state.blobUrl) URL.revokeObjectURL(state.blobUrl);
    state.blobUrl = null;
    let source = apiUrl(`${base}?format=mp3`);
    if (savedApiKey()) source = state.blobUrl = URL.createObjectURL(await (await apiFetch(`${base}?format=mp3`)).blob());
    readAlong.clear(text);
    readAlong.add(captions.words);
    readAlong.finish();
    ui.nowPlaying.textContent = `${chapter.number}. ${chapter.title}`;
    ui.player.hidden = false;
    ui.player.src = source;
    await ui.player.play();
  } catch (error) {
    if (error.name !== "NotAllowedError") showError(error);
  }
}

async function listJobs() {
  try {
    const { data } = await getJson("/v1/audio/jobs");
    ui.jobs.replaceChildren(...data.map((job) => {
      const item = document.createElement("li");
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = `${job.title || job.id}: ${job.status} (${Math.round(job.progress.fraction * 100)}%)`;
      open.addEventListener("click", () => (job.status === "queued" || job.status === "running" ? watch(job.id) : showJob(job)));
      item.append(open);
      return item;
    }));
  } catch {
    /* jobs unavailable or a key is needed: the main panel says so */
  }
}

ui.read.addEventListener("click", readBook);
ui.start.addEventListener("click", startJob);
ui.file.addEventListener("change", () => {
  ui.start.disabled = true;
  state.preview = null;
});
ui.player.addEventListener("timeupdate", () => readAlong.show(ui.player.currentTime));
ui.player.addEventListener("seeked", () => readAlong.show(ui.player.currentTime));
listJobs();
