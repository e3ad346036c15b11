// reportgen: the attention explorer (html and jekyll flavours), on an image page or inline
// below each figure of a single-page report. Progressive: without JavaScript its section stays
// hidden and the page shows the static figures as before.
//
// The page loads this file, then colormaps.js (lookup tables from matplotlib, the report's
// alpha) and an image's data (a data script, or its maps file fetched over http(s): the seen
// image, every map quantised per grid, the artifact mask and, when stored, every head's row of
// the CLS token's or the pooling probe's attention, whose mean is each raw layer map, and each
// layer's token norms and the feature view's channels): on an image page at once, inline when
// its button is first pressed.
// The data script's data-explorer attribute names the section it fills. Each overlay is
// computed here the way the Python figures compute it: Pillow's bilinear upsampling of the
// grid (pixel-centre aligned, edges clamped), each panel scaled from its own min to max,
// index = floor(v*255+0.5) into the colormap, blended as image + alpha * (colour - image),
// rounded half up.
"use strict";
(() => {
  let settings = null;
  const waiting = []; // [section, image] that came before the colour maps

  window.reportgenExplorerSettings = (value) => {
    settings = value;
    for (const [root, image] of waiting.splice(0)) start(root, image);
  };
  window.reportgenExplorer = (data) => {
    const root = document.getElementById(document.currentScript?.dataset.explorer ?? "");
    if (root) deliver(root, decoded(data));
  };

  function deliver(root, image) {
    if (settings) start(root, image);
    else waiting.push([root, image]);
  }

  // What the explorer draws from, whichever file it came from: the seen image's URL and size,
  // the grid, each layer's map, the other maps by name, the heads' grids (layer by layer), the
  // raw layer maps and the artifact cells (flat indices over layers x cells), or nulls.
  function decoded(data) {
    const cells = data.grid[0] * data.grid[1];
    const heads = data.heads ? grids(data.heads, cells) : null;
    const headCount = data.heads ? data.heads.count : 0;
    return {
      size: data.size,
      grid: data.grid,
      image: data.image,
      layers: grids(data.layers, cells),
      maps: Object.fromEntries(
        Object.entries(data.maps).map(([name, quantised]) => [name, grids(quantised, cells)[0]])
      ),
      norms: data.norms ? grids(data.norms, cells) : null,
      features: data.features ? grids(data.features, cells) : null,
      heads,
      headCount,
      raw: data.raw ? grids(data.raw, cells) : heads && meanOfHeads(heads, headCount, cells),
      mask: data.mask,
    };
  }

  // The .npy arrays of a maps file (reportgen.store: a zip of them, deflated), by name.
  async function npz(buffer) {
    const view = new DataView(buffer);
    let end = buffer.byteLength - 22;
    while (end > 0 && view.getUint32(end, true) !== 0x06054b50) end--;
    const arrays = {};
    let entry = view.getUint32(end + 16, true);
    for (let i = view.getUint16(end + 10, true); i > 0; i--) {
      const method = view.getUint16(entry + 10, true);
      const size = view.getUint32(entry + 20, true);
      const nameLength = view.getUint16(entry + 28, true);
      const local = view.getUint32(entry + 42, true);
      const name = new TextDecoder().decode(new Uint8Array(buffer, entry + 46, nameLength));
      const extra = view.getUint16(entry + 30, true) + view.getUint16(entry + 32, true);
      entry += 46 + nameLength + extra;
      const skip = view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      let member = new Blob([new Uint8Array(buffer, local + 30 + skip, size)]);
      if (method === 8) {
        member = member.stream().pipeThrough(new DecompressionStream("deflate-raw"));
      }
      const unpacked = new Uint8Array(await new Response(member).arrayBuffer());
      arrays[name.replace(/\.npy$/, "")] = npy(unpacked);
    }
    return arrays;
  }

  // One .npy array: { shape, values } (a typed array; float16 as Float32Array).
  function npy(bytes) {
    const view = new DataView(bytes.buffer);
    const long = bytes[6] > 1;
    const start = (long ? 12 : 10) + (long ? view.getUint32(8, true) : view.getUint16(8, true));
    const header = new TextDecoder().decode(bytes.subarray(0, start));
    const type = /'descr': *'([^']+)'/.exec(header)[1];
    const shape = /'shape': *\(([^)]*)\)/.exec(header)[1].split(",").filter((n) => n.trim());
    const body = bytes.slice(start).buffer;
    const types = { "|u1": Uint8Array, "|b1": Uint8Array, "<f4": Float32Array, "<f2": Uint16Array };
    if (!types[type]) throw new Error(`unexpected array type ${type}`);
    const values = new types[type](body);
    const numbers = type === "<f2" ? Float32Array.from(values, half) : values;
    return { shape: shape.map(Number), values: numbers };
  }

  function half(bits) {
    const exponent = (bits >> 10) & 31;
    const fraction = bits & 1023;
    const sign = bits >> 15 ? -1 : 1;
    if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }

  // The explorer's data from a maps file (format 3 on): the layer maps, the maps stored beside
  // them (min from format 6 on) and max, mean and, in earlier files, min of the layers (which
  // reportgen recomputes rather than stores),
  // the heads, the token norms, the artifact mask and the seen image. An array stored as levels
  // keeps each grid's low and high in NAME_range (reportgen.store: 8-bit heads and norms).
  async function fromMaps(buffer) {
    const arrays = await npz(buffer);
    const [count, gridH, gridW] = arrays.layers.shape;
    const cells = gridH * gridW;
    const format = JSON.parse(new TextDecoder().decode(arrays.meta.values)).format;
    if (format >= 7 && arrays.cls_heads_range) unpackHeads(arrays.cls_heads, cells);
    const grid = (values, k) => Float64Array.from(values.subarray(k * cells, (k + 1) * cells));
    const split = (name, n) => {
      const grids = Array.from({ length: n }, (_, k) => grid(arrays[name].values, k));
      const range = arrays[`${name}_range`]?.values;
      const top = arrays[name].top ?? 2 ** (8 * arrays[name].values.BYTES_PER_ELEMENT) - 1;
      if (range) {
        grids.forEach((levels, k) => {
          const [low, high] = [range[2 * k], range[2 * k + 1]];
          for (let i = 0; i < cells; i++) levels[i] = low + (levels[i] * (high - low)) / top;
        });
      }
      return grids;
    };
    const layers = split("layers", count);
    const across = (reduce, grids = layers) =>
      Float64Array.from({ length: cells }, (_, i) => reduce(grids.map((layer) => layer[i])));
    // A maps file before format 6 (reportgen.store.MIN_KEPT_FORMAT) does not keep its min: it
    // compares every layer in units of its own peak, the 99th percentile over the patches
    // interpolated as numpy's (reportgen.methods.maps.relative_to_peak); before format 5
    // (MIN_RELATIVE_FORMAT) it is the plain minimum over the layers.
    const relativeToPeak = (layer) => {
      const sorted = Float64Array.from(layer).sort();
      const at = 0.99 * (cells - 1);
      const below = Math.floor(at);
      const above = Math.min(below + 1, cells - 1);
      const peak = sorted[below] + (at - below) * (sorted[above] - sorted[below]);
      return peak > 0 ? layer.map((value) => value / peak) : layer;
    };
    const minLayers = () => (format >= 5 ? layers.map(relativeToPeak) : layers);
    const maps = {
      max: across((values) => Math.max(...values)),
      min: arrays.min ? null : across((values) => Math.min(...values), minLayers()),
      mean: across((values) => values.reduce((a, b) => a + b, 0) / count),
    };
    for (const [name, array] of Object.entries(arrays)) {
      const isGrid = array.shape.length === 2 && array.shape[0] === gridH;
      if (isGrid && !name.endsWith("_range")) maps[name] = split(name, 1)[0];
    }
    const headCount = arrays.cls_heads ? arrays.cls_heads.shape[1] : 0;
    const heads = headCount ? split("cls_heads", count * headCount) : null;
    const mask = [];
    arrays.artifact_mask?.values.forEach((value, i) => value && mask.push(i));
    const webp = arrays.seen_image_webp.values;
    const picture = await createImageBitmap(new Blob([webp], { type: "image/webp" }));
    let text = "";
    for (let i = 0; i < webp.length; i += 8192) {
      text += String.fromCharCode(...webp.subarray(i, i + 8192));
    }
    return {
      size: [picture.height, picture.width],
      grid: [gridH, gridW],
      image: `data:image/webp;base64,${btoa(text)}`, // a data URL: the page requests nothing
      layers,
      maps,
      norms: arrays.norms ? split("norms", count) : null,
      features: arrays.features ? split("features", 3) : null,
      heads,
      headCount,
      raw: heads && meanOfHeads(heads, headCount, cells),
      mask: mask.length ? mask : null,
    };
  }

  // The heads of a maps file from format 7 on (reportgen.store.PACKED_HEADS_FORMAT): 4-bit
  // levels, each grid's two to a byte (the first in the high nibble), unpacked in place.
  function unpackHeads(heads, cells) {
    const packed = heads.values;
    const perGrid = Math.ceil(cells / 2);
    const levels = new Uint8Array((packed.length / perGrid) * cells);
    for (let i = 0; i < levels.length; i++) {
      const byte = packed[Math.floor(i / cells) * perGrid + ((i % cells) >> 1)];
      levels[i] = i % cells % 2 ? byte & 15 : byte >> 4;
    }
    heads.values = levels;
    heads.top = 15;
  }

  // An explorer whose data is the image's maps file (--explorer-data maps, the default): fetched
  // over http(s); a page opened from disk cannot fetch, so it says how to serve it.
  async function loadMaps(root, url) {
    try {
      if (location.protocol === "file:") {
        throw new Error(
          "this explorer reads the image's maps file, which a browser loads only from a web " +
            "server: serve the report's folder (python -m http.server) and open the page " +
            "there, or rebuild the report with --explorer-data scripts to view it from disk"
        );
      }
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
      deliver(root, await fromMaps(await response.arrayBuffer()));
    } catch (error) {
      addControls(root);
      root.hidden = false;
      root.querySelector(".explorer-controls").hidden = true;
      root.querySelector(".explorer-hint").hidden = true;
      root.querySelector('[data-control="canvas"]').hidden = true;
      const status = root.querySelector('[data-control="status"]');
      status.textContent = `Not available: ${error.message}.`;
      root.dataset.ready = "unavailable";
    }
  }

  function bytes(base64) {
    const text = atob(base64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  // Grids of a quantised array: grids(q)[k] is the k-th grid as a Float64Array.
  function grids(quantised, size) {
    const raw = bytes(quantised.data);
    const values = quantised.bits === 16 ? new Uint16Array(raw.buffer) : raw;
    const top = 2 ** quantised.bits - 1;
    return quantised.low.map((low, k) => {
      const scale = (quantised.high[k] - low) / top;
      const grid = new Float64Array(size);
      for (let i = 0; i < size; i++) grid[i] = low + values[k * size + i] * scale;
      return grid;
    });
  }

  // Each layer's raw map (before artifact masking): the mean of its heads' grids.
  function meanOfHeads(heads, headCount, size) {
    const layers = [];
    for (let start = 0; start < heads.length; start += headCount) {
      const mean = new Float64Array(size);
      for (let h = start; h < start + headCount; h++) {
        for (let i = 0; i < size; i++) mean[i] += heads[h][i] / headCount;
      }
      layers.push(mean);
    }
    return layers;
  }

  // Pillow's bilinear coefficients for one axis, upsampling inSize to outSize.
  function coefficients(inSize, outSize) {
    const scale = inSize / outSize;
    const support = Math.max(scale, 1);
    const rows = [];
    for (let x = 0; x < outSize; x++) {
      const centre = (x + 0.5) * scale;
      const first = Math.max(Math.trunc(centre - support + 0.5), 0);
      const last = Math.min(Math.trunc(centre + support + 0.5), inSize);
      const weights = [];
      let total = 0;
      for (let j = first; j < last; j++) {
        const w = Math.max(0, 1 - Math.abs((j - centre + 0.5) / support));
        weights.push(w);
        total += w;
      }
      rows.push({ first, weights: weights.map((w) => (total ? w / total : 0)) });
    }
    return rows;
  }

  function upsample(grid, gridH, gridW, height, width) {
    const across = coefficients(gridW, width);
    const down = coefficients(gridH, height);
    const wide = new Float32Array(gridH * width);
    for (let r = 0; r < gridH; r++) {
      for (let x = 0; x < width; x++) {
        const { first, weights } = across[x];
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += grid[r * gridW + first + k] * weights[k];
        wide[r * width + x] = sum;
      }
    }
    const out = new Float32Array(height * width);
    for (let y = 0; y < height; y++) {
      const { first, weights } = down[y];
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += wide[(first + k) * width + x] * weights[k];
        out[y * width + x] = sum;
      }
    }
    return out;
  }

  // The overlay of one grid on the image's pixels, as ImageData; mask: cells to outline.
  function overlay(data, base, grid, lut, alpha, mask) {
    const [height, width] = data.size;
    const [gridH, gridW] = data.grid;
    const heat = upsample(grid, gridH, gridW, height, width);
    let low = Infinity;
    let high = -Infinity;
    for (const v of heat) {
      if (v < low) low = v;
      if (v > high) high = v;
    }
    const out = new ImageData(width, height);
    for (let i = 0; i < heat.length; i++) {
      const level = high > low ? Math.min(Math.max((heat[i] - low) / (high - low), 0), 1) : 0;
      const index = Math.floor(level * 255 + 0.5) * 3;
      for (let c = 0; c < 3; c++) {
        const pixel = base[i * 4 + c];
        out.data[i * 4 + c] = Math.floor(pixel + alpha * (lut[index + c] - pixel) + 0.5);
      }
      out.data[i * 4 + 3] = 255;
    }
    if (mask) outline(out, mask, gridH, gridW);
    return out;
  }

  // Three channels in [0, 1] (the feature view) as the image's RGB pixels, drawn as they are
  // (no colour map, no blending), as the figures draw them.
  function colours(data, channels) {
    const [height, width] = data.size;
    const [gridH, gridW] = data.grid;
    const planes = channels.map((grid) => upsample(grid, gridH, gridW, height, width));
    const out = new ImageData(width, height);
    for (let i = 0; i < height * width; i++) {
      for (let c = 0; c < 3; c++) {
        out.data[i * 4 + c] = Math.floor(Math.min(Math.max(planes[c][i], 0), 1) * 255 + 0.5);
      }
      out.data[i * 4 + 3] = 255;
    }
    return out;
  }

  // A faint white 1-pixel frame around each masked cell, as the figures draw it.
  function outline(image, cells, gridH, gridW) {
    const { width, height } = image;
    const opacity = 0.45;
    const frame = new Uint8Array(width * height);
    for (const cell of cells) {
      const row = Math.floor(cell / gridW);
      const col = cell % gridW;
      const top = Math.round((row * height) / gridH);
      const bottom = Math.round(((row + 1) * height) / gridH) - 1;
      const left = Math.round((col * width) / gridW);
      const right = Math.round(((col + 1) * width) / gridW) - 1;
      for (let x = left; x <= right; x++) frame[top * width + x] = frame[bottom * width + x] = 1;
      for (let y = top; y <= bottom; y++) frame[y * width + left] = frame[y * width + right] = 1;
    }
    for (let i = 0; i < frame.length; i++) {
      if (!frame[i]) continue;
      for (let c = 0; c < 3; c++) {
        const value = image.data[i * 4 + c];
        image.data[i * 4 + c] = Math.floor(value * (1 - opacity) + 255 * opacity + 0.5);
      }
    }
  }

  // The controls, canvas and status of an explorer's section, made here rather than repeated
  // in every page (hidden until this script runs), once; their ids start with the section's.
  const CONTROLS = `<div class="explorer-controls">
<label data-for="map">map</label> <select data-control="map"></select>
<label data-for="layer">layer</label>
<input data-control="layer" type="range" min="1" step="1">
<label data-for="head">head</label> <select data-control="head"></select>
<label data-for="artifacts">artifacts</label>
<select data-control="artifacts"><option value="masked">masked (filled)</option>
<option value="raw">raw</option></select>
<label data-for="alpha">alpha</label>
<input data-control="alpha" type="range" min="0" max="1" step="0.05">
<label data-for="colormap">colours</label> <select data-control="colormap"></select>
<label><input type="checkbox" data-control="show-heads"> every head of the layer</label>
</div>
<p class="explorer-hint">Raw layers and single heads need the per-head attention in the maps
file; heads are shown raw.</p>
<canvas class="explorer-canvas" data-control="canvas" role="img"
aria-label="Attention overlay"></canvas>
<output class="explorer-status" data-control="status" aria-live="polite"></output>
<div class="explorer-heads" data-control="heads" hidden></div>`;

  function addControls(root) {
    if (root.querySelector(".explorer-controls")) return;
    root.insertAdjacentHTML("beforeend", CONTROLS);
    for (const label of root.querySelectorAll("label[data-for]")) {
      const control = root.querySelector(`[data-control="${label.dataset.for}"]`);
      control.id = label.htmlFor = `${root.id}-${label.dataset.for}`;
    }
    const hint = root.querySelector(".explorer-hint");
    hint.id = `${root.id}-artifacts-hint`;
    root.querySelector('[data-control="artifacts"]').setAttribute("aria-describedby", hint.id);
  }

  function option(select, value, label) {
    const item = document.createElement("option");
    item.value = value;
    item.textContent = label;
    select.append(item);
  }

  function start(root, data) {
    addControls(root);
    const $ = (name) => root.querySelector(`[data-control="${name}"]`);
    const canvas = $("canvas");
    const [height, width] = data.size;
    const [gridH, gridW] = data.grid;
    const cells = gridH * gridW;
    const { layers, maps, norms, features, heads, headCount, raw } = data;
    const luts = Object.fromEntries(
      Object.entries(settings.colormaps).map(([name, table]) => [name, bytes(table)])
    );
    const masked = new Set(data.mask || []);
    const maskOf = (layer) => {
      const cellsOfLayer = [];
      for (let i = 0; i < cells; i++) if (masked.has(layer * cells + i)) cellsOfLayer.push(i);
      return cellsOfLayer.length ? cellsOfLayer : null;
    };

    const layer = $("layer");
    const head = $("head");
    const map = $("map");
    const artifacts = $("artifacts");
    const alpha = $("alpha");
    const colormap = $("colormap");
    const showHeads = $("show-heads");
    const headList = $("heads");
    const status = $("status");
    layer.max = String(layers.length);
    layer.value = layer.max;
    option(map, "layers", "one layer");
    if (norms) option(map, "norms", "token norms of one layer");
    if (features) option(map, "features", "features (principal components as RGB)");
    for (const name of Object.keys(maps)) option(map, name, name);
    option(head, "mean", "mean of heads");
    for (let h = 1; h <= headCount; h++) option(head, String(h), `head ${h}`);
    for (const name of Object.keys(luts)) option(colormap, name, name);
    alpha.value = String(settings.alpha);
    artifacts.disabled = !raw;

    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    const picture = new Image();
    let base = null;

    // The grid shown for the controls' state (heads: layer index, head index or "mean").
    function chosen(layerIndex, headChoice) {
      const what = `layer ${layerIndex + 1}`;
      if (map.value === "norms") {
        return { grid: norms[layerIndex], mask: null, what: `${what}, token norms` };
      }
      if (map.value === "features") {
        return { channels: features, what: "features, the first three principal components" };
      }
      if (map.value !== "layers") return { grid: maps[map.value], mask: null, what: map.value };
      if (headChoice !== "mean") {
        const h = Number(headChoice) - 1;
        const label = `${what}, head ${h + 1} (raw)`;
        return { grid: heads[layerIndex * headCount + h], mask: null, what: label };
      }
      if (artifacts.value === "raw" && raw) {
        return { grid: raw[layerIndex], mask: null, what: `${what}, mean of heads, raw` };
      }
      return { grid: layers[layerIndex], mask: maskOf(layerIndex), what: `${what}, mean of heads` };
    }

    function draw() {
      if (!base) return;
      const layerIndex = Number(layer.value) - 1;
      const perLayer = map.value === "layers";
      layer.disabled = !perLayer && map.value !== "norms";
      head.disabled = !perLayer || !headCount;
      artifacts.disabled = !perLayer || !raw || head.value !== "mean";
      const lut = luts[colormap.value];
      const opacity = Number(alpha.value);
      const view = chosen(layerIndex, head.value);
      const drawn = view.channels
        ? colours(data, view.channels)
        : overlay(data, base, view.grid, lut, opacity, view.mask);
      context.putImageData(drawn, 0, 0);
      canvas.setAttribute("aria-label", `Attention overlay: ${view.what}`);
      status.textContent = `${view.what} · alpha ${opacity.toFixed(2)} · ${colormap.value}`;
      drawHeads(layerIndex, lut, opacity);
    }

    // Small multiples: every head of the chosen layer; a click shows that head.
    function drawHeads(layerIndex, lut, opacity) {
      headList.replaceChildren();
      headList.hidden = !showHeads.checked || !headCount || map.value !== "layers";
      if (headList.hidden) return;
      for (let h = 1; h <= headCount; h++) {
        const button = document.createElement("button");
        button.type = "button";
        button.setAttribute("aria-label", `Show head ${h} of layer ${layerIndex + 1}`);
        button.setAttribute("aria-pressed", String(head.value === String(h)));
        const small = document.createElement("canvas");
        small.width = width;
        small.height = height;
        const view = chosen(layerIndex, String(h));
        const drawn = overlay(data, base, view.grid, lut, opacity, null);
        small.getContext("2d").putImageData(drawn, 0, 0);
        const label = document.createElement("span");
        label.textContent = `head ${h}`;
        button.append(small, label);
        button.addEventListener("click", () => {
          head.value = String(h);
          draw();
        });
        headList.append(button);
      }
    }

    picture.addEventListener("load", () => {
      context.drawImage(picture, 0, 0, width, height);
      base = context.getImageData(0, 0, width, height).data;
      root.hidden = false;
      draw();
      root.dataset.ready = "true";
    });
    for (const control of [layer, head, map, artifacts, alpha, colormap, showHeads]) {
      control.addEventListener("input", draw);
    }
    showHeads.disabled = !headCount;
    picture.src = data.image;
  }

  // An inline explorer: its button loads the image's data the first time, then shows and hides.
  function inline(box) {
    const button = box.querySelector("button");
    const panel = document.getElementById(button.getAttribute("aria-controls"));
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      panel.hidden = !open;
      if (!open || box.dataset.requested) return;
      box.dataset.requested = "true";
      if (box.dataset.maps) {
        loadMaps(document.getElementById(box.dataset.explorer), box.dataset.maps);
        return;
      }
      const script = document.createElement("script");
      script.src = box.dataset.src;
      script.dataset.explorer = box.dataset.explorer;
      box.append(script);
    });
    box.hidden = false;
  }

  document.querySelectorAll(".explorer-inline").forEach(inline);
  document.querySelectorAll("section.explorer[data-maps]").forEach((root) => {
    if (!root.closest(".explorer-inline")) loadMaps(root, root.dataset.maps);
  });
  // A link to an inline explorer (the gfm page links the html one) opens it.
  const linked = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  const box = linked?.closest(".explorer-inline");
  if (box) {
    box.querySelector("button").click();
    box.scrollIntoView();
  }
})();
