// The page: wires the controls to the API. Speech is requested as raw PCM in server-sent events with
// word timestamps, played while it streams and read along; the same audio is kept by the server in
// the chosen download format (download_format), with its captions.

import {
  ApiError, apiFetch, apiUrl, base64Bytes, getJson, newRequestId, saveApiKey, savedApiKey, serverEvents,
} from "./api.js";
import { StreamPlayer } from "./player.js";
import { ReadAlong } from "./readalong.js";
import { Scope } from "./scope.js";
import {
  MixBuilder, filterVoiceList, groupByLanguage, renderVersions, renderVoiceList, versionsOf,
} from "./voices.js";

const $ = (id) => document.getElementById(id);
const ui = {
  text: $("text"), count: $("char-count"), versions: $("versions"), voiceSearch: $("voice-search"),
  voiceList: $("voice-list"), voiceNone: $("voice-none"), speed: $("speed"), speedValue: $("speed-value"),
  format: $("format"), formatHint: $("format-hint"), generate: $("generate"), stop: $("stop"),
  status: $("status"), progress: $("progress"), player: $("player"), download: $("download"),
  mixName: $("mix-name"), mixSaved: $("mix-saved"), keyForm: $("api-key-form"), key: $("api-key"),
  markup: $("markup"),
  captionsSrt: $("captions-srt"), captionsVtt: $("captions-vtt"),
};

// Which control an API error belongs to, from the error's "param".
const ERROR_SLOTS = {
  input: "input", voice: "voice", lang_code: "voice", model: "model", speed: "speed",
  response_format: "format", download_format: "format", return_download_link: "format",
  name: "name", voices: "mix",
};
const SLOT_CONTROLS = {
  input: "text", voice: "voice-list", model: "versions", speed: "speed", format: "format", mix: "mix-add",
  name: "mix-name", apikey: "api-key", generate: "generate",
};
const FORMAT_LABELS = { mp3: "MP3", opus: "Opus", aac: "AAC", flac: "FLAC", wav: "WAV", pcm: "PCM" };
const CHARS_PER_SECOND = 15; // roughly how fast Kokoro reads at speed 1: only for the progress estimate

const state = {
  config: null,
  models: [],
  version: null,
  voices: [],
  voiceRequest: 0,
  controller: null, // the AbortController of the request in flight
  blobUrl: null,
  ticker: 0,
};
const player = new StreamPlayer();
const readAlong = new ReadAlong($("read-along"), { onseek: seekTo });
const scope = new Scope($("scope"));
const mix = new MixBuilder({
  list: $("mix-parts"), addSelect: $("mix-add"), addButton: $("mix-add-button"), output: $("mix-string"),
  onchange: () => clearErrors("mix", "name"),
});

// -- errors next to their controls ------------------------------------------------------------

function showError(slot, message) {
  const box = document.querySelector(`[data-error-for="${slot}"]`);
  box.textContent = message;
  box.hidden = false;
  $(SLOT_CONTROLS[slot])?.setAttribute("aria-invalid", "true");
  if (slot === "apikey") ui.keyForm.hidden = false;
}

function clearErrors(...slots) {
  for (const slot of slots.length ? slots : Object.keys(SLOT_CONTROLS)) {
    const box = document.querySelector(`[data-error-for="${slot}"]`);
    box.hidden = true;
    box.textContent = "";
    $(SLOT_CONTROLS[slot])?.removeAttribute("aria-invalid");
  }
}

/** Shows an API error in plain words next to the control it is about; returns the slot used. */
function showApiError(error, { fallback = "generate", overrides = {} } = {}) {
  if (!(error instanceof ApiError)) {
    showError(fallback, `Something went wrong in the page: ${error.message}`);
    return fallback;
  }
  let slot = overrides[error.param] || ERROR_SLOTS[error.param] || fallback;
  let message = sentence(error.message);
  if (error.status === 401) {
    slot = "apikey";
    message = `${message} Enter a key this server accepts.`;
  } else if (error.status === 424) {
    message = `This version cannot run here: ${message}`;
  } else if (error.status === 429) {
    message = `${message} Try again in a few seconds.`;
  }
  showError(slot, message);
  if (slot === "apikey") ui.key.focus();
  return slot;
}

function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "The server gave no reason.";
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?)]$/.test(first) ? first : `${first}.`;
}

// -- text -------------------------------------------------------------------------------------

function characters() {
  return [...ui.text.value].length; // code points, as the server counts them
}

function updateCount() {
  const limit = state.config?.max_input_chars;
  const count = characters();
  ui.count.textContent = limit ? `${count.toLocaleString()} / ${limit.toLocaleString()}` : count.toLocaleString();
  ui.count.classList.toggle("over", Boolean(limit) && count > limit);
}

// -- versions and voices ----------------------------------------------------------------------

async function loadModels() {
  const { data } = await getJson("/v1/models");
  state.models = versionsOf(data);
  if (ui.versions.contains(document.activeElement)) return; // do not pull the focus from under the user
  renderVersions(ui.versions, state.models, { selected: state.version, defaultVersion: state.config.default_model });
}

async function selectVersion(version) {
  state.version = version;
  document.body.dataset.version = version;
  clearErrors("model", "voice", "mix", "name");
  const request = ++state.voiceRequest;
  ui.voiceList.setAttribute("aria-busy", "true");
  try {
    const { voices } = await getJson(`/v1/audio/voices?model=${encodeURIComponent(version)}`);
    if (request !== state.voiceRequest) return; // another version was chosen meanwhile
    showVoices(voices, mix.parts[0]?.id);
  } catch (error) {
    if (request === state.voiceRequest) showApiError(error, { fallback: "voice" });
  } finally {
    if (request === state.voiceRequest) ui.voiceList.removeAttribute("aria-busy");
  }
}

function showVoices(voices, wanted) {
  state.voices = voices;
  const usable = voices.filter((voice) => voice.supported);
  const has = (id) => usable.some((voice) => voice.id === id);
  const fallback = state.config.default_voices[state.version];
  const primary = has(wanted) ? wanted : has(fallback) ? fallback : usable[0]?.id;
  renderVoiceList(ui.voiceList, groupByLanguage(voices, state.config?.languages), primary);
  filterVoices();
  mix.setVoices(voices, primary);
  if (!usable.length) showError("voice", "No voice of this version is installed. Put voice packs in its voices folder.");
  revealChosenVoice();
}

function filterVoices() {
  const shown = filterVoiceList(ui.voiceList, ui.voiceSearch.value);
  ui.voiceNone.hidden = shown > 0 || !state.voices.length;
}

function revealChosenVoice() {
  const chosen = ui.voiceList.querySelector("input:checked")?.closest("label");
  if (chosen && !chosen.hidden) ui.voiceList.scrollTop = chosen.offsetTop - ui.voiceList.clientHeight / 3;
}

// -- speaking ---------------------------------------------------------------------------------

function setState(name) {
  document.body.dataset.state = name;
  const busy = name === "connecting" || name === "streaming";
  ui.generate.disabled = busy;
  ui.stop.disabled = !(busy || player.playing);
  ui.generate.setAttribute("aria-busy", String(busy));
}

function setStatus(text) {
  ui.status.textContent = text;
}

function seconds(value) {
  return `${value.toFixed(1)} s`;
}

function problemsBeforeSending() {
  const limit = state.config.max_input_chars;
  const count = characters();
  if (!ui.text.value.trim()) return ["input", "Type some text to speak."];
  if (count > limit) {
    return ["input", `The text has ${count.toLocaleString()} characters; this server takes at most ${limit.toLocaleString()} (KOKORO_MAX_INPUT_CHARS).`];
  }
  if (!mix.parts.length) return ["voice", "Choose a voice."];
  const weights = mix.problem();
  return weights ? ["mix", weights] : null;
}

async function generate() {
  if (state.controller || !state.config) return;
  clearErrors();
  const problem = problemsBeforeSending();
  if (problem) {
    showError(...problem);
    $(SLOT_CONTROLS[problem[0]])?.focus();
    return;
  }
  player.open(ui.player); // in the click or key press, so the browser lets audio start
  player.reset();
  ui.player.pause();
  clearResult();

  const format = ui.format.value;
  const chars = characters();
  const speed = ui.speed.valueAsNumber;
  const body = {
    model: state.version, input: ui.text.value, voice: mix.value, speed, response_format: "pcm",
    stream_format: "sse", timestamps: true, markup: ui.markup.checked,
  };
  if (!ui.markup.checked) body.input_format = "text"; // literal text: not even <speak> is read as SSML
  if (state.config.download_links) {
    body.return_download_link = true;
    if (format !== "pcm") body.download_format = format;
  }
  const controller = new AbortController();
  const requestId = newRequestId();
  state.controller = controller;
  document.body.dataset.requestId = requestId;
  setState("connecting");
  setStatus("Starting…");
  ui.progress.removeAttribute("value"); // indeterminate until audio arrives
  let outcome = "error";
  let downloadPath = null;
  let captionsPath = null;
  readAlong.clear(body.input);
  try {
    const send = () => apiFetch("/v1/audio/speech", {
      json: body, signal: controller.signal, headers: { "X-Request-ID": requestId },
    });
    const response = await send().catch((error) => {
      if (!(error instanceof ApiError) || error.code !== "timestamps_unavailable") throw error;
      body.timestamps = false; // this model gives no durations: speech without the read-along
      readAlong.clear();
      return send();
    });
    downloadPath = response.headers.get("X-Download-Path");
    captionsPath = response.headers.get("X-Captions-Path");
    setState("streaming");
    scope.live(player.analyser);
    state.ticker = setInterval(() => showProgress(chars, speed), 200);
    followLive();
    for await (const event of serverEvents(response)) {
      if (event.type === "speech.audio.delta") {
        player.push(base64Bytes(event.audio));
        showProgress(chars, speed);
      } else if (event.type === "speech.audio.words") {
        readAlong.add(event.words);
      } else if (event.type === "error") {
        throw new ApiError(500, event.error);
      }
    }
    readAlong.finish();
    outcome = "done";
  } catch (error) {
    if (error.name === "AbortError") {
      outcome = "stopped";
    } else if (error instanceof ApiError) {
      showApiError(error);
    } else {
      showError("generate", "The connection broke while the audio was coming in. Try again.");
    }
  } finally {
    clearInterval(state.ticker);
    state.controller = null;
  }
  finish(outcome, { format, chars, downloadPath, captionsPath });
}

/** Highlights the word being heard while the stream plays live (until the clip player takes over). */
function followLive() {
  const step = () => {
    if (!ui.player.paused) return;
    if (state.controller || player.playing) {
      readAlong.show(player.playedSeconds);
      requestAnimationFrame(step);
    }
  };
  requestAnimationFrame(step);
}

/** Highlights the word being heard while the clip player plays. */
function followClip() {
  const step = () => {
    readAlong.show(ui.player.currentTime);
    if (!ui.player.paused && !ui.player.ended) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

/** A click on a word: play the clip from there. */
function seekTo(seconds) {
  if (!ui.player.src || state.controller) return;
  ui.player.currentTime = seconds;
  readAlong.show(seconds);
  ui.player.play().catch(() => {});
}

function showProgress(chars, speed) {
  const received = player.receivedSeconds;
  const expected = chars / (CHARS_PER_SECOND * speed);
  if (received > 0) ui.progress.value = Math.min(0.95, received / Math.max(expected, received * 1.05));
  setStatus(`Synthesizing… ${seconds(received)} of audio received, ${seconds(player.playedSeconds)} played.`);
}

function finish(outcome, { format, chars, downloadPath, captionsPath }) {
  player.end();
  const received = player.receivedSeconds;
  if (received > 0) {
    state.blobUrl = URL.createObjectURL(player.wav());
    ui.player.src = state.blobUrl;
  }
  if (outcome === "done") {
    ui.progress.value = 1;
    setStatus(`Done: ${seconds(received)} of audio from ${chars.toLocaleString()} characters.${player.playing ? " Playing…" : ""}`);
    // X-Download-Path is relative to /v1 (/download/NAME), as Kokoro-FastAPI sends it
    offerDownload(downloadPath ? apiUrl(`/v1${downloadPath}`) : state.blobUrl, downloadPath ? format : "wav", false);
    if (captionsPath) offerCaptions(apiUrl(`/v1${captionsPath}`));
  } else if (outcome === "stopped") {
    ui.progress.value = 0;
    player.stop();
    setStatus(received > 0
      ? `Stopped after ${seconds(received)} of audio; the server stopped synthesizing.`
      : "Stopped before any audio arrived; the server stopped synthesizing.");
    if (received > 0) offerDownload(state.blobUrl, "wav", true);
  } else {
    ui.progress.value = 0;
    player.stop();
    setStatus(received > 0
      ? `The audio broke off after ${seconds(received)}: see the message above.`
      : "Nothing was generated: see the message above.");
    if (received > 0) offerDownload(state.blobUrl, "wav", true);
  }
  setState(outcome);
  if (!player.playing) showStill();
  loadModels().catch(() => {}); // the version's status may have changed (loaded now)
}

function offerDownload(url, format, partial) {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  const extension = format === "opus" ? "ogg" : format;
  ui.download.href = url;
  ui.download.download = `kokoro-${stamp}${partial ? "-partial" : ""}.${extension}`;
  ui.download.textContent = `Download ${FORMAT_LABELS[format] || format.toUpperCase()}${partial ? " (the part received)" : ""}`;
  ui.download.hidden = false;
}

function offerCaptions(vttUrl) {
  const stem = ui.download.download.replace(/\.[^.]+$/, "");
  for (const [link, extension] of [[ui.captionsVtt, "vtt"], [ui.captionsSrt, "srt"]]) {
    link.href = vttUrl.replace(/\.vtt$/, `.${extension}`);
    link.download = `${stem}.${extension}`;
    link.hidden = false;
  }
}

function clearResult() {
  ui.download.hidden = true;
  for (const link of [ui.captionsSrt, ui.captionsVtt]) {
    link.hidden = true;
    link.removeAttribute("href");
  }
  ui.download.removeAttribute("href");
  ui.player.removeAttribute("src");
  ui.player.load();
  if (state.blobUrl) URL.revokeObjectURL(state.blobUrl);
  state.blobUrl = null;
  ui.progress.value = 0;
}

function stop() {
  if (state.controller) {
    state.controller.abort(); // closes the connection: the server stops synthesizing
  } else if (player.playing) {
    player.stop();
    setState(document.body.dataset.state);
    showStill();
  }
}

function showStill() {
  const duration = ui.player.duration;
  const position = Number.isFinite(duration) && duration > 0 ? ui.player.currentTime / duration : 0;
  scope.still(player.samples ? player.peaks(scope.columns) : null, position);
}

// -- mixes ------------------------------------------------------------------------------------

async function saveMix(event) {
  event.preventDefault();
  clearErrors("mix", "name");
  ui.mixSaved.hidden = true;
  const name = ui.mixName.value.trim();
  if (!name) {
    showError("name", "Give the new voice a name, for example af_mymix.");
    ui.mixName.focus();
    return;
  }
  const weights = mix.problem();
  if (weights) {
    showError("mix", weights);
    return;
  }
  try {
    const response = await apiFetch("/v1/audio/voices/combine", {
      json: { voices: mix.value, model: state.version, name },
    });
    await response.arrayBuffer(); // the .pt file itself: not needed here
    const saved = response.headers.get("X-Voice-Saved") || name;
    const { voices } = await getJson(`/v1/audio/voices?model=${encodeURIComponent(state.version)}`);
    mix.parts = [];
    showVoices(voices, saved);
    ui.mixName.value = "";
    ui.mixSaved.textContent = `Saved as ${saved}; it is chosen now and listed with the other voices.`;
    ui.mixSaved.hidden = false;
  } catch (error) {
    showApiError(error, { fallback: "name", overrides: { voice: "mix", model: "model" } });
  }
}

// -- start ------------------------------------------------------------------------------------

async function start() {
  clearErrors();
  try {
    state.config = await getJson("/v1/config");
    state.version = state.version || state.config.default_model;
    await loadModels();
  } catch (error) {
    showApiError(error);
    setStatus("The page could not load the server's settings.");
    setState("error");
    return;
  }
  ui.keyForm.hidden = !savedApiKey();
  ui.speed.min = String(state.config.speed.min);
  ui.speed.max = String(state.config.speed.max);
  if (!state.config.download_links) {
    ui.format.value = "wav";
    ui.format.disabled = true;
    ui.formatHint.textContent = "This server keeps no files (KOKORO_DOWNLOAD_MAX_BYTES=0): the download is a WAV made in the browser.";
  }
  updateCount();
  await selectVersion(state.version);
  setStatus("Ready.");
  setState("ready");
  showStill();
}

ui.text.addEventListener("input", () => {
  updateCount();
  clearErrors("input");
});
ui.versions.addEventListener("change", (event) => {
  if (event.target.name === "version") selectVersion(event.target.value);
});
ui.voiceList.addEventListener("change", (event) => {
  if (event.target.name !== "voice") return;
  clearErrors("voice");
  mix.setPrimary(event.target.value);
});
ui.voiceSearch.addEventListener("input", filterVoices);
ui.speed.addEventListener("input", () => {
  ui.speedValue.value = `${ui.speed.valueAsNumber.toFixed(2)}×`;
  clearErrors("speed");
});
ui.format.addEventListener("change", () => clearErrors("format"));
ui.generate.addEventListener("click", generate);
ui.stop.addEventListener("click", stop);
$("mix-save-form").addEventListener("submit", saveMix);
ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  saveApiKey(ui.key.value.trim());
  start();
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    generate();
  } else if (event.key === "Escape" && (state.controller || player.playing)) {
    event.preventDefault();
    stop();
  }
});

player.onidle = () => {
  if (state.controller) return;
  if (document.body.dataset.state === "done") setStatus(ui.status.textContent.replace(" Playing…", ""));
  setState(document.body.dataset.state);
  showStill();
};
ui.player.addEventListener("play", () => {
  player.stop(); // the clip replaces what was still playing live
  player.open(ui.player);
  scope.live(player.analyser);
  setState(document.body.dataset.state);
  followClip();
});
ui.player.addEventListener("seeked", () => readAlong.show(ui.player.currentTime));
for (const name of ["pause", "ended", "seeked", "timeupdate"]) {
  ui.player.addEventListener(name, () => {
    if (ui.player.paused && !player.playing) showStill();
  });
}

updateCount();
start();
