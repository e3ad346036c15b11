// reportgen: the attention explorer (html and jekyll flavours), on an image page or inline
// below each figure of a single-page report. Progressive: without JavaScript its section stays
// hidden and the page shows the static figures as before.
//
// The page loads this file, then colormaps.js (lookup tables from matplotlib, the report's
// alpha) and an image's data script (the seen image, every map quantised per grid, the
// artifact mask and, when stored, every head's CLS row, whose mean is each raw layer map, and
// each layer's token norms): on an image page at once, inline when its button is first pressed.
// The data script's data-explorer attribute names the section it fills. Each overlay is
// computed here the way the Python figures compute it: Pillow's bilinear upsampling of the
// grid (pixel-centre aligned, edges clamped), each panel scaled from its own min to max,
// index = floor(v*255+0.5) into the colormap, blended as image + alpha * (colour - image),
// rounded half up.
"use strict";
(() => {
  let settings = null;
  const waiting = []; // [section, data] that came before the colour maps

  window.reportgenExplorerSettings = (value) => {
    settings = value;
    for (const [root, data] of waiting.splice(0)) start(root, data);
  };
  window.reportgenExplorer = (data) => {
    const root = document.getElementById(document.currentScript?.dataset.explorer ?? "");
    if (!root) return;
    if (settings) start(root, data);
    else waiting.push([root, data]);
  };

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

  function option(select, value, label) {
    const item = document.createElement("option");
    item.value = value;
    item.textContent = label;
    select.append(item);
  }

  function start(root, data) {
    const $ = (name) => root.querySelector(`[data-control="${name}"]`);
    const canvas = $("canvas");
    const [height, width] = data.size;
    const [gridH, gridW] = data.grid;
    const cells = gridH * gridW;
    const layers = grids(data.layers, cells);
    const maps = Object.fromEntries(
      Object.entries(data.maps).map(([name, quantised]) => [name, grids(quantised, cells)[0]])
    );
    const norms = data.norms ? grids(data.norms, cells) : null;
    const heads = data.heads ? grids(data.heads, cells) : null;
    const headCount = data.heads ? data.heads.count : 0;
    const raw = data.raw ? grids(data.raw, cells) : heads && meanOfHeads(heads, headCount, cells);
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
    option(map, "layers", "one layer");
    if (norms) option(map, "norms", "token norms of one layer");
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
      context.putImageData(overlay(data, base, view.grid, lut, opacity, view.mask), 0, 0);
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
      const script = document.createElement("script");
      script.src = box.dataset.src;
      script.dataset.explorer = box.dataset.explorer;
      box.append(script);
    });
    box.hidden = false;
  }

  document.querySelectorAll(".explorer-inline").forEach(inline);
  // A link to an inline explorer (the gfm page links the html one) opens it.
  const linked = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  const box = linked?.closest(".explorer-inline");
  if (box) {
    box.querySelector("button").click();
    box.scrollIntoView();
  }
})();
