// Model versions, the voice list of the chosen version, and the mix builder.

/** The voice string a request sends: one voice as is, several as af_bella(2)+af_sky(1). */
export function mixString(parts) {
  if (parts.length === 1) return parts[0].id;
  return parts.map((part) => `${part.id}(${formatWeight(part.weight)})`).join("+");
}

export function formatWeight(weight) {
  return String(Number(Number(weight).toFixed(2)));
}

/** One entry per build from GET /v1/models (which lists every alias): the version names it. */
export function versionsOf(models) {
  const versions = new Map();
  for (const model of models) {
    if (!versions.has(model.version)) versions.set(model.version, model);
  }
  return [...versions.values()];
}

const STATUS_WORDS = { loaded: "Loaded", ready: "Ready", unavailable: "Unavailable" };

export function renderVersions(container, versions, { selected, defaultVersion }) {
  container.replaceChildren(
    ...versions.map((model) => {
      const label = element("label", { className: `version-card status-${model.status}` });
      const input = element("input", { type: "radio", name: "version", value: model.version });
      input.checked = model.version === selected;
      const title = element("span", { className: "version-title", textContent: model.title });
      if (model.version === defaultVersion) title.append(element("span", { className: "tag", textContent: "default" }));
      const badge = element("span", { className: "badge", textContent: STATUS_WORDS[model.status] || model.status });
      label.append(input, title, badge);
      const details = model.status === "unavailable"
        ? model.problem || "not available"
        : `${model.backend === "torch" ? "PyTorch" : "ONNX Runtime"}${model.status === "loaded" ? ", in memory" : ""}`;
      label.append(element("span", { className: "version-detail", textContent: details }));
      return label;
    }),
  );
}

export function displayName(voice) {
  const cut = voice.name.indexOf(" (");
  return cut > 0 ? voice.name.slice(0, cut) : voice.id;
}

/**
 * Voices grouped by language, in the order of the server's language registry (GET /v1/config
 * `languages`, when given), named as the registry names them; languages without a text front end last.
 */
export function groupByLanguage(voices, languages = []) {
  const known = new Map(languages.map((language, index) => [language.code, { ...language, index }]));
  const groups = new Map();
  for (const voice of voices) {
    const key = voice.language_code;
    if (!groups.has(key)) {
      const language = known.get(key);
      groups.set(key, {
        code: key, name: language ? language.name : voice.language_name, tag: language ? language.tag : voice.language,
        supported: voice.supported, voices: [], order: language ? language.index : known.size,
      });
    }
    groups.get(key).voices.push(voice);
  }
  const list = [...groups.values()].sort((x, y) => x.order - y.order); // stable: the server's order otherwise
  return [...list.filter((g) => g.supported), ...list.filter((g) => !g.supported)];
}

export function renderVoiceList(container, groups, selectedId) {
  container.replaceChildren(
    ...groups.map((group) => {
      const headingId = `voice-group-${group.code}`;
      const box = element("div", { className: "voice-group", role: "group" });
      box.setAttribute("aria-labelledby", headingId);
      const heading = element("h4", { id: headingId, textContent: group.name });
      heading.append(element("span", { className: "count", textContent: String(group.voices.length) }));
      if (!group.supported) heading.append(element("span", { className: "note", textContent: "no offline text front end yet" }));
      box.append(heading);
      for (const voice of group.voices) {
        const label = element("label", { className: "voice" });
        label.dataset.search = searchWords([voice.id, displayName(voice), voice.language_name, voice.language,
          voice.gender, ...(voice.openai_names || [])]);
        const input = element("input", { type: "radio", name: "voice", value: voice.id, disabled: !voice.supported });
        input.checked = voice.id === selectedId;
        const name = element("span", { className: "voice-name", textContent: displayName(voice) });
        const id = element("code", { className: "voice-id", textContent: voice.id });
        const gender = element("span", { className: `gender gender-${voice.gender}`, textContent: voice.gender });
        label.append(input, name, id, gender);
        box.append(label);
      }
      return box;
    }),
  );
}

/** What a voice is found by: its texts, whole and split into words (" af_heart en-us" -> af heart en us). */
function searchWords(texts) {
  const whole = texts.map((text) => text.toLowerCase());
  return " " + [...whole, ...whole.flatMap((text) => text.split(/[^\p{L}\p{N}]+/u))].filter(Boolean).join(" ");
}

/**
 * Hides voices (and empty groups) unless every word of the query starts one of their words ("male" does
 * not find "female"); returns how many show.
 */
export function filterVoiceList(container, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const group of container.querySelectorAll(".voice-group")) {
    let inGroup = 0;
    for (const label of group.querySelectorAll(".voice")) {
      const match = words.every((word) => label.dataset.search.includes(" " + word));
      label.hidden = !match;
      if (match) inGroup++;
    }
    group.hidden = inGroup === 0;
    shown += inGroup;
  }
  return shown;
}

/**
 * The mix: the voice chosen in the list first, then any voices added, each with a weight.
 * ``onchange`` is called whenever the resulting voice string may have changed.
 */
export class MixBuilder {
  constructor({ list, addSelect, addButton, output, onchange }) {
    this.list = list;
    this.addSelect = addSelect;
    this.addButton = addButton;
    this.output = output;
    this.onchange = onchange;
    this.parts = [];
    this.voices = [];
    addButton.addEventListener("click", () => this.add(addSelect.value));
  }

  get value() {
    return mixString(this.parts);
  }

  /** Invalid weights, in words, or null. */
  problem() {
    const bad = this.parts.find((part) => !(Number(part.weight) > 0) || Number(part.weight) > 100);
    return bad && this.parts.length > 1 ? `The weight of ${bad.id} must be a number above 0 (at most 100).` : null;
  }

  /** A new voice list (another version): keep the parts that it has. */
  setVoices(voices, primary) {
    this.voices = voices.filter((voice) => voice.supported);
    const known = new Set(this.voices.map((voice) => voice.id));
    const rest = this.parts.slice(1).filter((part) => known.has(part.id) && part.id !== primary);
    const weight = this.parts.length ? this.parts[0].weight : 1;
    this.parts = primary ? [{ id: primary, weight }, ...rest] : rest;
    this.render();
  }

  /** The voice chosen in the list becomes the first part. */
  setPrimary(id) {
    const rest = this.parts.slice(1).filter((part) => part.id !== id);
    const weight = this.parts.length ? this.parts[0].weight : 1;
    this.parts = [{ id, weight }, ...rest];
    this.render();
  }

  add(id) {
    if (!id || this.parts.some((part) => part.id === id)) return;
    this.parts.push({ id, weight: 1 });
    this.render();
    this.list.querySelector(`input[data-voice="${CSS.escape(id)}"]`)?.focus();
  }

  remove(id) {
    this.parts = this.parts.filter((part) => part.id !== id);
    this.render();
    this.addSelect.focus();
  }

  render() {
    const several = this.parts.length > 1;
    this.list.replaceChildren(
      ...this.parts.map((part, index) => {
        const item = element("li", { className: "mix-part" });
        const inputId = `mix-weight-${index}`;
        const name = element("label", { htmlFor: inputId, className: "mix-voice" });
        name.append(element("code", { textContent: part.id }));
        if (index === 0) name.append(element("span", { className: "muted", textContent: " chosen in the list" }));
        item.append(name);
        const weight = element("input", {
          id: inputId, type: "number", min: "0.1", max: "100", step: "0.1", value: formatWeight(part.weight),
          className: "weight", hidden: !several,
        });
        weight.dataset.voice = part.id;
        weight.setAttribute("aria-label", `Weight of ${part.id}`);
        weight.addEventListener("input", () => {
          part.weight = weight.valueAsNumber;
          this.update();
        });
        item.append(weight);
        if (index > 0) {
          const remove = element("button", { type: "button", className: "icon", textContent: "✕" });
          remove.setAttribute("aria-label", `Remove ${part.id} from the mix`);
          remove.addEventListener("click", () => this.remove(part.id));
          item.append(remove);
        } else if (several) {
          item.append(element("span", { className: "icon-space", "aria-hidden": "true" })); // keeps weights aligned
        }
        return item;
      }),
    );
    const taken = new Set(this.parts.map((part) => part.id));
    const options = this.voices.filter((voice) => !taken.has(voice.id));
    const groups = groupByLanguage(options).map((group) => {
      const optgroup = element("optgroup", { label: group.name });
      optgroup.append(...group.voices.map((voice) => element("option", {
        value: voice.id, textContent: `${displayName(voice)} (${voice.id}, ${voice.gender})`,
      })));
      return optgroup;
    });
    this.addSelect.replaceChildren(...groups);
    this.addSelect.disabled = this.addButton.disabled = options.length === 0 || this.parts.length === 0;
    this.update();
  }

  update() {
    this.output.value = this.parts.length ? this.value : "—";
    this.onchange?.();
  }
}

export function element(tag, properties = {}) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(properties)) {
    if (key === "role" || key.startsWith("aria-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  return node;
}
