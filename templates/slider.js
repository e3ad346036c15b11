// reportgen: one control for the whole page (html flavour): it switches every figure and
// thumbnail that has a sprite (all its panels in a row: L1..LN, max, min, mean, rollout) to the
// same panel, by showing the sprite through object-position. Progressive: without JavaScript
// the control stays hidden. Sprites load only once the control is used, lazily, from the
// report's own folder.
"use strict";
(() => {
  const control = document.getElementById("wide-control");
  if (!control) return;
  const slider = control.querySelector("input");
  const output = control.querySelector("output");
  const panels = slider.dataset.panels.split(" ");
  const pictures = Array.from(document.querySelectorAll("img[data-sprite]"));
  const published = new Map(pictures.map((img) => [img, img.getAttribute("src")]));

  function show() {
    const index = Number(slider.value) - 1;
    output.textContent = index < 0 ? "as published" : panels[index];
    for (const img of pictures) {
      if (index < 0) {
        img.src = published.get(img);
        img.classList.remove("sprite-view");
        img.style.objectPosition = "";
        img.style.aspectRatio = "";
        continue;
      }
      if (!img.classList.contains("sprite-view")) {
        img.loading = "lazy";
        img.classList.add("sprite-view");
        img.addEventListener("load", function fit() {
          img.style.aspectRatio = `${img.naturalWidth / panels.length} / ${img.naturalHeight}`;
          img.removeEventListener("load", fit);
        });
        img.src = img.dataset.sprite;
      }
      img.style.objectPosition = `${(index / (panels.length - 1)) * 100}% 0`;
    }
    control.dataset.panel = index < 0 ? "" : panels[index];
  }

  slider.addEventListener("input", show);
  control.hidden = false;
})();
