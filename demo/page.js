// The page's own behaviour, run in the browser (demo/ui.py puts it in the document head with its settings).
//
// Gradio calls these from events declared in demo/ui.py: each gets the listed components' values and returns the
// new values of its outputs, `undefined` for "leave as it is". None of them calls the server: they decide what
// the model sees (only valid seeds and z edits, only finite slider values) and keep the address bar in step.
window.ganExplorer = (() => {
  const config = window.ganExplorerConfig;
  const pending = {}; // the latest typing round per box: a pause only applies the round that is still the latest
  let seedATouched = false; // "From seed" follows the main seed until the student types into it
  let linkTimer = null;

  const fill = (template, values) => template.replace(/\{(\w+)(?::[^}]*)?\}/g, (_, key) => values[key]);
  const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i; // what Python's float() reads, minus inf, nan and _

  function readSeed(text) {
    const t = String(text ?? "").trim();
    if (!/^\+?\d+$/.test(t)) return null;
    const seed = Number(t);
    return seed <= config.maxSeed ? seed : null;
  }

  // The same rules as gan_core.latent.parse_z_edits, so that what passes here never fails there.
  function readZEdits(text) {
    const t = String(text ?? "");
    if (t.length > config.maxZEditChars) return null;
    for (const entry of t.replace(/;/g, ",").split(",")) {
      if (!entry.trim()) continue;
      const parts = entry.split("=");
      if (parts.length !== 2) return null;
      const [dim, value] = parts.map((part) => part.trim());
      if (!/^\+?\d+(\.0*)?$/.test(dim) || Number(dim) > config.nz - 1) return null;
      if (!DECIMAL.test(value) || Math.abs(Number(value)) > config.rawRange) return null;
    }
    return t;
  }

  function seedHint(applied) {
    return fill(config.seedHint, { max_seed: config.maxSeed, last: applied ?? "" });
  }

  function zEditsHint() {
    return fill(config.zEditsHint, { last_dim: config.nz - 1, limit: config.rawRange });
  }

  // Resolves true after ms unless the box was typed into again meanwhile.
  function quiet(box, ms) {
    const round = (pending[box] = (pending[box] || 0) + 1);
    return new Promise((resolve) => setTimeout(() => resolve(round === pending[box]), ms));
  }

  function applySeed(text, applied) {
    pending.seed = (pending.seed || 0) + 1; // Enter or leaving the box: a pending pause has nothing left to do
    const seed = readSeed(text);
    if (seed === null) return [undefined, seedHint(applied)];
    return [seed === applied ? undefined : seed, ""];
  }

  async function applySeedLater(text, applied) {
    if (!(await quiet("seed", config.pauseMs))) return [undefined, undefined];
    // an emptied box is someone about to type: no hint yet (Enter or leaving the box still gives one)
    if (String(text ?? "").trim() === "") return [undefined, undefined];
    return applySeed(text, applied);
  }

  function applyZEdits(text, applied) {
    pending.z = (pending.z || 0) + 1;
    const edits = readZEdits(text);
    if (edits === null) return [undefined, zEditsHint()];
    return [edits === applied ? undefined : edits, ""];
  }

  async function applyZEditsLater(text, applied) {
    if (!(await quiet("z", config.pauseMs))) return [undefined, undefined];
    return applyZEdits(text, applied);
  }

  // The applied seed changed (typed, random, or from a link): show it in the box unless the box already reads as
  // it, and carry it to "From seed" until the student has typed there.
  function seedApplied(applied, text, seedA) {
    if (applied === null || applied === undefined) return [undefined, undefined];
    const box = readSeed(text) === applied ? undefined : String(applied);
    return [box, seedATouched || seedA === applied ? undefined : applied];
  }

  function zEditsApplied(applied, text) {
    return applied === text ? undefined : applied;
  }

  function seedAChanged() {
    seedATouched = true;
  }

  // A slider's number box can hold "" or "-" while typed: send the track's position instead, within the range.
  function repairSliders(spec, values) {
    return values.map((value, i) => {
      if (!spec[i]) return value;
      const { id, min, max, whole } = spec[i];
      let number = Number(value);
      if (value === null || value === "" || !Number.isFinite(number)) {
        number = Number(document.querySelector(`#${id} input[type=range]`)?.value ?? min);
      }
      number = Math.min(Math.max(number, min), max);
      return whole ? Math.round(number) : number;
    });
  }

  function linkQuery(seed, zEdits, layer, tab, amounts) {
    const query = new URLSearchParams(window.location.search);
    for (const key of [...query.keys()]) {
      if (key === "seed" || key === "z" || key === "layer" || key === "tab" || /^d\d+$/.test(key)) query.delete(key);
    }
    if (seed !== null && seed !== undefined) query.set("seed", String(seed));
    amounts.forEach((value, k) => {
      if (Number(value)) query.set(`d${k + 1}`, String(Number(value)));
    });
    const edits = String(zEdits ?? "").split(",").map((e) => e.trim()).filter(Boolean);
    if (edits.length) query.set("z", edits.map((e) => e.replace(/\s*=\s*/, ":")).join(","));
    if (layer && layer !== config.defaultLayer) query.set("layer", layer);
    if (tab && tab !== config.defaultTab) query.set("tab", tab);
    return query.toString().replace(/%3A/gi, ":").replace(/%2C/gi, ",");
  }

  // Keep the address bar on the current view (replaceState: no history entry per slider step), at most every 200 ms.
  function writeLink(seed, zEdits, layer, tab, ...amounts) {
    clearTimeout(linkTimer);
    linkTimer = setTimeout(() => {
      if (seed === null || seed === undefined) return; // not restored from the link yet
      const query = linkQuery(seed, zEdits, layer, tab, amounts);
      window.history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}`);
    }, 200);
  }

  async function copyLink() {
    try {
      await navigator.clipboard.writeText(window.location.href);
      return config.copied;
    } catch {
      return config.copyFailed;
    }
  }

  // A teacher's link hides controls for a lesson (?hide=raw_z,history): a style rule, in place before they render.
  const hidden = (new URLSearchParams(location.search).get("hide") || "").split(",").map((name) => name.trim());
  const selectors = hidden.flatMap((name) => (Object.hasOwn(config.hiddenBy, name) ? config.hiddenBy[name] : []));
  if (selectors.length) {
    const style = document.createElement("style");
    style.textContent = `${selectors.join(", ")} { display: none !important; }`;
    document.head.append(style);
  }

  // Phones get a number keypad for the seed.
  const seedInput = () => document.querySelector("#seed input, #seed textarea");
  const whenReady = setInterval(() => {
    const input = seedInput();
    if (input) {
      input.setAttribute("inputmode", "numeric");
      clearInterval(whenReady);
    }
  }, 200);

  return {
    applySeed, applySeedLater, applyZEdits, applyZEditsLater, seedApplied, zEditsApplied, seedAChanged,
    repairSliders, writeLink, copyLink,
  };
})();
