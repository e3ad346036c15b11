// reportgen: filter by name, and by class when the images have labels, on the gallery pages of
// the html flavour (progressive: without JavaScript the form stays hidden and the static pages,
// by entropy and by name, still work).
//
// Every image's [name, id, level] (and label, in a labelled report) is in names-1.js,
// names-2.js ... (about 2,000 a file, sorted by name), loaded one after the other only once the
// reader types, and only until enough matches are found. Matches replace what follows them on
// the page; names and labels are shown with textContent, never parsed as HTML. Works from disk
// (file://) too: the lists are scripts. The class field offers the labels of classes.js; a
// label it names matches exactly, other text any label containing it. A link to the page with
// #class=LABEL (the report's per-class table) opens it filtered to that class. The first 100
// matches show; "show more" adds the next 100 each time it is pressed.
"use strict";
(() => {
  const LIMIT = 100;
  const form = document.getElementById("name-filter");
  const results = document.getElementById("name-filter-results");
  if (!form || !results) return;
  const input = document.getElementById("name-filter-input");
  const classInput = document.getElementById("class-filter-input");
  const status = document.getElementById("name-filter-status");
  const chunks = Number(form.dataset.chunks);
  const extension = form.dataset.thumb;
  const entries = [];
  let loaded = 0;
  let loading = null;
  let generation = 0;
  let limit = LIMIT;
  const more = document.createElement("button");
  more.type = "button";
  more.id = "name-filter-more";
  more.textContent = `show ${LIMIT} more`;
  more.hidden = true;
  status.after(more);

  const classes = new Set();

  window.reportgenNames = (list) => {
    entries.push(...list);
  };
  window.reportgenClasses = (list) => {
    const options = document.getElementById("class-filter-options");
    for (const label of list) {
      classes.add(label);
      const option = document.createElement("option");
      option.value = label;
      options.append(option);
    }
  };

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.addEventListener("load", resolve);
      script.addEventListener("error", () => reject(new Error(`cannot load ${src}`)));
      document.head.append(script);
    });
  }

  function loadNext() {
    if (!loading) {
      loading = loadScript(`names-${loaded + 1}.js`)
        .then(() => {
          loaded += 1;
        })
        .finally(() => {
          loading = null;
        });
    }
    return loading;
  }

  // The test an entry's label must pass: none without a class query.
  function classTest(query) {
    if (!query) return () => true;
    if (classes.has(query)) return (label) => label === query;
    const lower = query.toLocaleLowerCase();
    return (label) => label !== null && label !== undefined && label.toLocaleLowerCase().includes(lower);
  }

  function card([name, id, level, label]) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `../images/${id}.html`;
    const image = document.createElement("img");
    image.src = `../thumbs/${id}${extension}`;
    image.loading = "lazy";
    image.alt = "";
    const caption = document.createElement("span");
    caption.className = "name";
    caption.textContent = name;
    link.append(image, caption);
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = typeof label === "string" ? `level ${level} · ${label}` : `level ${level}`;
    item.append(link, meta);
    return item;
  }

  function showStatic(visible) {
    for (let node = results.nextElementSibling; node; node = node.nextElementSibling) {
      node.hidden = !visible;
    }
    results.hidden = visible;
  }

  // The matches of the fields, at most `limit`; `extend`: the same search showing more.
  async function update(extend) {
    if (extend !== true) limit = LIMIT;
    const query = input.value.trim().toLocaleLowerCase();
    const classQuery = classInput ? classInput.value.trim() : "";
    const mine = ++generation;
    await classesLoaded;
    if (mine !== generation) return;
    const ofClass = classTest(classQuery);
    if (!query && !classQuery) {
      status.textContent = "";
      more.hidden = true;
      showStatic(true);
      return;
    }
    const matches = [];
    let searched = 0;
    for (;;) {
      for (; searched < entries.length && matches.length < limit; searched += 1) {
        const entry = entries[searched];
        if (entry[0].toLocaleLowerCase().includes(query) && ofClass(entry[3])) matches.push(entry);
      }
      if (matches.length >= limit || loaded === chunks) break;
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
    more.hidden = complete || !matches.length;
    if (!matches.length) status.textContent = classQuery ? "no image matches" : "no image name contains this";
    else if (complete) status.textContent = `${matches.length} image${matches.length === 1 ? "" : "s"}`;
    else status.textContent = `the first ${matches.length} images, by name`;
  }

  // The labels for the class field, loaded with the page when there is one.
  const classesLoaded = classInput ? loadScript("classes.js").catch(() => {}) : Promise.resolve();

  form.addEventListener("submit", (event) => event.preventDefault());
  input.addEventListener("input", update);
  more.addEventListener("click", () => {
    limit += LIMIT;
    update(true);
  });
  if (classInput) {
    classInput.addEventListener("input", update);
    const asked = /^#class=(.*)$/.exec(window.location.hash);
    if (asked) {
      try {
        classInput.value = decodeURIComponent(asked[1]);
      } catch {
        classInput.value = asked[1];
      }
      update();
    }
  }
  form.hidden = false;
})();
