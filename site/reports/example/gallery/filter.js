// reportgen: filter by name on the gallery pages of the html flavour (progressive: without
// JavaScript the form stays hidden and the static pages, by entropy and by name, still work).
//
// Every image's [name, id, level] is in names-1.js, names-2.js ... (about 2,000 a file, sorted
// by name), loaded one after the other only once the reader types, and only until enough
// matches are found. Matches replace what follows them on the page; names are shown with
// textContent, never parsed as HTML. Works from disk (file://) too: the lists are scripts.
"use strict";
(() => {
  const LIMIT = 100;
  const form = document.getElementById("name-filter");
  const results = document.getElementById("name-filter-results");
  if (!form || !results) return;
  const input = form.querySelector("input");
  const status = document.getElementById("name-filter-status");
  const chunks = Number(form.dataset.chunks);
  const extension = form.dataset.thumb;
  const entries = [];
  let loaded = 0;
  let loading = null;
  let generation = 0;

  window.reportgenNames = (list) => {
    entries.push(...list);
  };

  function loadNext() {
    if (!loading) {
      loading = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = `names-${loaded + 1}.js`;
        script.addEventListener("load", () => {
          loaded += 1;
          resolve();
        });
        script.addEventListener("error", () => reject(new Error(`cannot load ${script.src}`)));
        document.head.append(script);
      }).finally(() => {
        loading = null;
      });
    }
    return loading;
  }

  function card([name, id, level]) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `../images/${id}.html`;
    const image = document.createElement("img");
    image.src = `../thumbs/${id}${extension}`;
    image.loading = "lazy";
    image.alt = "";
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    link.append(image, label);
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `level ${level}`;
    item.append(link, meta);
    return item;
  }

  function showStatic(visible) {
    for (let node = results.nextElementSibling; node; node = node.nextElementSibling) {
      node.hidden = !visible;
    }
    results.hidden = visible;
  }

  async function update() {
    const query = input.value.trim().toLocaleLowerCase();
    const mine = ++generation;
    if (!query) {
      status.textContent = "";
      showStatic(true);
      return;
    }
    const matches = [];
    let searched = 0;
    for (;;) {
      for (; searched < entries.length && matches.length < LIMIT; searched += 1) {
        if (entries[searched][0].toLocaleLowerCase().includes(query)) matches.push(entries[searched]);
      }
      if (matches.length >= LIMIT || loaded === chunks) break;
      status.textContent = "searching…";
      try {
        await loadNext();
      } catch (error) {
        status.textContent = error.message;
        return;
      }
      if (mine !== generation) return;
    }
    results.replaceChildren(...matches.map(card));
    showStatic(false);
    const complete = loaded === chunks && searched === entries.length;
    if (!matches.length) status.textContent = "no image name contains this";
    else if (complete) status.textContent = `${matches.length} image${matches.length === 1 ? "" : "s"}`;
    else status.textContent = `the first ${LIMIT} images, by name`;
  }

  form.addEventListener("submit", (event) => event.preventDefault());
  input.addEventListener("input", update);
  form.hidden = false;
})();
