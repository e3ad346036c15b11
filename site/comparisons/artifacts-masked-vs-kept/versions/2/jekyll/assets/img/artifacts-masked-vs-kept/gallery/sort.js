// reportgen: a comparison's gallery page sorted again in the browser (html flavour). The page
// comes in one of the static orders (entropy change, map correlation, name; every page of each
// is linked); this sorts the thumbnails of the page by any of them without loading another.
// Each thumbnail carries data-change and data-correlation ("" for none, sorted last).
"use strict";
(() => {
  const form = document.getElementById("gallery-sort");
  const list = document.querySelector("ul.thumbs");
  if (!form || !list) return;
  const select = form.querySelector("select");
  const items = Array.from(list.children);
  const position = new Map(items.map((item, index) => [item, index]));
  const keys = {
    page: (item) => position.get(item),
    change: (item) => -Number(item.dataset.change),
    correlation: (item) =>
      item.dataset.correlation === "" ? Infinity : Number(item.dataset.correlation),
    name: (item) => item.querySelector(".name").textContent.toLocaleLowerCase(),
  };
  select.addEventListener("input", () => {
    const key = keys[select.value];
    const sorted = items.slice().sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return x < y ? -1 : x > y ? 1 : position.get(a) - position.get(b);
    });
    list.replaceChildren(...sorted);
  });
  form.hidden = false;
})();
