// reportgen: one control for the whole page (front and gallery pages, html and jekyll): it
// switches every figure and thumbnail that has a sprite (all its panels in a row: L1..LN, max,
// min, mean, rollout, and the last layer's token norms and the features where the report has
// them) to the same panel, by showing the sprite through object-position. A
// data-sprite is on the picture itself or on an element that holds it (al-folio's figure
// include). Progressive: without JavaScript the control stays hidden. Sprites load only once
// the control is used, lazily, from the report's own folder.
"use strict";
(() => {
  const control = document.getElementById("wide-control");
  if (!control) return;
  const slider = control.querySelector("input");
  const output = control.querySelector("output");
  const panels = slider.dataset.panels.split(" ");
  const FIGURE_WIDTH = "320px"; // one panel of a figure; thumbnails keep their width

  // Each picture as published: its source, its inline style and, inside a <picture>, the
  // srcsets of its <source>s (al-folio's responsive images), which would win over the sprite.
  const pictures = Array.from(document.querySelectorAll("[data-sprite]"), (holder) => {
    const img = holder.matches("img") ? holder : holder.querySelector("img");
    const sources = Array.from(img.closest("picture")?.querySelectorAll("source[srcset]") ?? []);
    return {
      img,
      sprite: holder.dataset.sprite,
      src: img.getAttribute("src"),
      style: img.getAttribute("style"),
      srcsets: sources.map((source) => [source, source.getAttribute("srcset")]),
    };
  });

  function published(picture) {
    const { img } = picture;
    for (const [source, srcset] of picture.srcsets) source.setAttribute("srcset", srcset);
    img.src = picture.src;
    img.classList.remove("sprite-view");
    if (picture.style === null) img.removeAttribute("style");
    else img.setAttribute("style", picture.style);
  }

  function spriteView(picture) {
    const { img } = picture;
    for (const [source] of picture.srcsets) source.removeAttribute("srcset");
    img.loading = "lazy";
    img.classList.add("sprite-view");
    Object.assign(img.style, { objectFit: "cover", height: "auto", maxWidth: "100%" });
    if (img.closest("figure")) img.style.width = FIGURE_WIDTH;
    img.addEventListener(
      "load",
      () => {
        if (!img.classList.contains("sprite-view")) return; // published again meanwhile
        img.style.aspectRatio = `${img.naturalWidth / panels.length} / ${img.naturalHeight}`;
      },
      { once: true },
    );
    img.src = picture.sprite;
  }

  function show() {
    const index = Number(slider.value) - 1;
    output.textContent = index < 0 ? "as published" : panels[index];
    for (const picture of pictures) {
      if (index < 0) {
        published(picture);
        continue;
      }
      if (!picture.img.classList.contains("sprite-view")) spriteView(picture);
      picture.img.style.objectPosition = `${(index / (panels.length - 1)) * 100}% 0`;
    }
    control.dataset.panel = index < 0 ? "" : panels[index];
  }

  slider.addEventListener("input", show);
  control.hidden = false;
})();
