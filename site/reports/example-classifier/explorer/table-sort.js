// reportgen: the per-class table of the html front page sorted by a click on a column's header
// (progressive: without JavaScript it stays a plain table in the page's order, most focused
// class first). A column of numbers sorts by them, the accuracy by its percentage, the class by
// name; a second click reverses the order. The level bars do not sort.
"use strict";
(() => {
  const SEPARATORS = /[\s,\u00a0\u202f]/g;

  // A cell's number: the number it is, or the percentage in brackets at its end; else null.
  function number(text) {
    const plain = text.replace(SEPARATORS, "");
    if (plain !== "" && Number.isFinite(Number(plain))) return Number(plain);
    const percentage = /\(([-\d.]+) %\)$/.exec(text);
    return percentage ? Number(percentage[1]) : null;
  }

  function sortable(table) {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const position = new Map(rows.map((row, index) => [row, index]));
    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach((header, column) => {
      const texts = rows.map((row) => row.cells[column].textContent.trim());
      const numbers = texts.map(number);
      const numeric = numbers.every((value) => value !== null);
      if (column > 0 && !numeric) return;
      const keys = numeric ? numbers : texts.map((text) => text.toLocaleLowerCase());
      const key = (row) => keys[position.get(row)];
      const button = document.createElement("button");
      button.type = "button";
      Object.assign(button.style, {
        font: "inherit", color: "inherit", background: "none", border: "0", padding: "0",
        cursor: "pointer", textAlign: "inherit",
      });
      const arrow = document.createElement("span");
      arrow.setAttribute("aria-hidden", "true");
      button.append(...header.childNodes, arrow);
      header.append(button);
      header.setAttribute("aria-sort", "none");
      button.addEventListener("click", () => {
        const ascending = header.getAttribute("aria-sort") !== "ascending";
        for (const other of headers) {
          if (other.hasAttribute("aria-sort")) other.setAttribute("aria-sort", "none");
          const mark = other.querySelector("button > span[aria-hidden]");
          if (mark) mark.textContent = "";
        }
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        arrow.textContent = ascending ? " ▲" : " ▼";
        const sign = ascending ? 1 : -1;
        const sorted = rows.slice().sort((a, b) => {
          const [x, y] = [key(a), key(b)];
          return sign * (x < y ? -1 : x > y ? 1 : 0) || position.get(a) - position.get(b);
        });
        body.replaceChildren(...sorted);
      });
    });
  }

  document.querySelectorAll(".sortable-table table").forEach(sortable);
})();
