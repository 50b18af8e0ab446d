// sgt-eval report: sortable and filterable tables, flips, lazy galleries and Vega-Lite charts.
// Data comes from the JSON block; text from it is only ever set with textContent, never parsed as HTML.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const images = data.images || {};

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function thumb(key, alt) {
    if (!key || !images[key]) return el("span", { class: "noimg" }, "no image");
    const img = el("img", { alt: alt || "" });
    img.src = images[key];
    return img;
  }

  // -- sortable tables: click a header; numbers sort by data-value, empty cells last -------------------
  function sortBy(table, index, type, descending) {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const key = (row) => {
      const cell = row.cells[index];
      if (!cell) return null;
      if (type === "num") {
        const v = cell.dataset.value;
        return v === undefined || v === "" ? null : Number(v);
      }
      return cell.textContent.trim().toLowerCase();
    };
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      const order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    rows.forEach((row) => body.append(row));
  }

  document.querySelectorAll("table.sortable").forEach((table) => {
    Array.from(table.tHead.rows[0].cells).forEach((th, index) => {
      th.classList.add("sort");
      th.setAttribute("tabindex", "0");
      const toggle = () => {
        const descending = th.dataset.order !== "desc";
        Array.from(th.parentNode.cells).forEach((c) => { delete c.dataset.order; c.removeAttribute("aria-sort"); });
        th.dataset.order = descending ? "desc" : "asc";
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        sortBy(table, index, th.dataset.type || "text", descending);
      };
      th.addEventListener("click", toggle);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") toggle(); });
    });
  });

  document.querySelectorAll("input.filter").forEach((input) => {
    const table = document.getElementById(input.dataset.filter);
    input.addEventListener("input", () => {
      const needle = input.value.trim().toLowerCase();
      Array.from(table.tBodies[0].rows).forEach((row) => {
        row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
      });
    });
  });

  // -- flips ----------------------------------------------------------------------------------------------
  function said(answer) {
    const box = el("div", { class: "said" });
    if (answer.image !== undefined) box.append(thumb(answer.image, "generated image"));
    box.append(el("pre", {}, answer.output === "" ? "(empty output)" : answer.output));
    const parsed = answer.error ? "error: " + answer.error
      : answer.method === "none" ? "unparsed" : "parsed: " + answer.parsed + " (" + answer.method + ")";
    box.append(el("div", { class: "parsed" }, parsed));
    return box;
  }

  function renderFlips() {
    const flips = data.flips;
    if (!flips || !document.getElementById("flip-table")) return;
    const totals = document.querySelector("#flip-totals tbody");
    for (const t of flips.totals) {
      totals.append(el("tr", {}, el("td", {}, t.bench), el("td", {}, t.run), el("td", {}, t.n_common),
        el("td", { class: "sig-up" }, t.fixed), el("td", { class: "sig-down" }, t.broken),
        el("td", {}, t.shown.fixed + t.shown.broken)));
    }
    const selects = { bench: "flip-bench", run: "flip-run" };
    for (const [field, id] of Object.entries(selects)) {
      const select = document.getElementById(id);
      for (const value of [...new Set(flips.items.map((f) => f[field]))]) select.append(el("option", { value }, value));
    }
    const body = document.querySelector("#flip-table tbody");
    const rows = flips.items.map((f) => {
      const row = el("tr", { class: f.direction },
        el("td", {}, f.bench, el("br"), el("span", { class: "badge " + f.direction }, f.direction), el("br"), f.run),
        el("td", {}, f.id), el("td", {}, f.image !== undefined ? thumb(f.image, "sample image") : ""),
        el("td", {}, f.question, el("div", { class: "meta" }, f.meta)), el("td", {}, said(f.base)),
        el("td", {}, said(f.other)));
      row.dataset.bench = f.bench; row.dataset.run = f.run; row.dataset.direction = f.direction;
      body.append(row);
      return row;
    });
    const controls = ["flip-bench", "flip-run", "flip-direction", "flip-text"].map((id) => document.getElementById(id));
    const count = document.getElementById("flip-count");
    const apply = () => {
      const [bench, run, direction, text] = controls.map((c) => c.value.trim().toLowerCase());
      let shown = 0;
      rows.forEach((row) => {
        const visible = (!bench || row.dataset.bench.toLowerCase() === bench) && (!run || row.dataset.run.toLowerCase() === run)
          && (!direction || row.dataset.direction === direction) && (!text || row.textContent.toLowerCase().includes(text));
        row.hidden = !visible;
        shown += visible;
      });
      count.textContent = shown + " of " + rows.length + " shown";
    };
    controls.forEach((c) => c.addEventListener("input", apply));
    apply();
  }

  // -- galleries: images are created only when a gallery is opened -------------------------------------
  function renderGalleries() {
    const root = document.getElementById("gallery-root");
    if (!root) return;
    for (const g of data.galleries || []) {
      const details = el("details", { class: "gallery" },
        el("summary", {}, g.bench + " — " + g.rows.length + " of " + g.n_total + " prompts (open to load images)"));
      let built = false;
      details.addEventListener("toggle", () => {
        if (!details.open || built) return;
        built = true;
        const head = el("tr", {}, el("th", {}, "prompt"), g.source ? el("th", {}, "source") : null,
          ...g.columns.map((c) => el("th", {}, c)));
        const table = el("table", { class: "grid" }, el("thead", {}, head));
        const body = el("tbody");
        for (const r of g.rows) {
          const cells = r.cells.map((c) => el("td", {},
            el("div", { class: "imgs" }, ...c.images.map((key, i) => {
              const box = el("span", { class: c.marks.length ? (c.marks[i] ? "ok" : "bad") : "" });
              box.append(thumb(key, "generated image"));
              return box;
            })), el("div", { class: "score" }, c.score)));
          body.append(el("tr", {}, el("td", {}, r.prompt, el("div", { class: "meta" }, r.kind)),
            g.source ? el("td", {}, thumb(r.source_image, "source image")) : null, ...cells));
        }
        table.append(body);
        details.append(table);
      });
      root.append(details);
    }
  }

  // -- images referenced by key (probe figures) ------------------------------------------------------------
  document.querySelectorAll("img[data-image]").forEach((img) => { img.src = images[img.dataset.image] || ""; });

  // -- charts ------------------------------------------------------------------------------------------
  function renderCharts() {
    const options = { mode: "vega-lite", renderer: "svg", ast: true,
      actions: { export: true, source: false, compiled: false, editor: false } };
    document.querySelectorAll("[data-chart]").forEach((node) => {
      const spec = (data.charts || {})[node.dataset.chart];
      if (!spec) return;
      window.vegaEmbed(node, spec, options).catch((err) => {
        node.textContent = "chart could not be drawn: " + err.message;
      });
    });
  }

  renderFlips();
  renderGalleries();
  if (window.vegaEmbed) renderCharts();
  document.body.dataset.ready = "1";
})();
