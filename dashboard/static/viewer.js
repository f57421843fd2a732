/* SR Loss Lab: a synced, pixel-exact viewer for the Compare tab (no libraries, no CDN).
 *
 * Mounted by a gr.HTML component (dashboard/viewer.py) whose value is a JSON config:
 *   {id, source, width, height, panels: [{key, title, url, scale, w, h, caption, alt, file, stale}],
 *    progress, notes: [..], colorbar: {label, min, max, stops: [css colour, ..]} | null, hint,
 *    spots: {a, b, label, caption, windows: [{x, y, w, h, rms}]} | null, blend: {a, b, alpha} | null}
 * Every panel is drawn in one shared coordinate system (pixels of the x4 output grid): zoom and pan
 * move all of them together.  Zoom steps are integer numbers of *device* pixels per image pixel
 * (100 % = one image pixel on one screen pixel, whatever devicePixelRatio is), drawn without
 * smoothing; "fit" shows the whole image with smoothing and says so.
 * Emits trigger('region', {x, y, w, h, id}) (output-pixel rectangle now visible) for the region
 * metrics, and keeps the view in the page URL (?img=&z=&x=&y=&layout=&panels=&left=&right=, and the
 * loss slider's &ba=&bb=&alpha= while its blend panel is shown).
 * "Where do they differ?": with ``spots`` the toolbar gets ◀ / ▶ (keys p / n) that jump to each
 * window at 400 %, centred, with a line naming it and what to look for.
 * Touch: at fit a swipe scrolls the page (touch-action: pan-y, pinch still zooms the viewer); once
 * zoomed in, the canvases take every gesture (touch-action: none) to pan.
 */
(function () {
  "use strict";
  if (window.SRViewer) return;

  const ZOOMS = [0, 1, 2, 4, 8]; // 0 = fit; else device pixels per output pixel
  const ZOOM_NAMES = ["Fit", "100 %", "200 %", "400 %", "800 %"];
  const SPOT_ZOOM = 3; // index of 400 % in ZOOMS

  function el(tag, attrs, kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids || []) if (c) e.appendChild(c);
    return e;
  }

  function baseUrl() {
    const root = (window.gradio_config && window.gradio_config.root) || "";
    return root ? root.replace(/\/?$/, "/") : location.origin + location.pathname.replace(/[^/]*$/, "");
  }

  function resolve(url) {
    if (!url) return null;
    if (/^(data:|blob:|https?:)/.test(url)) return url;
    return baseUrl() + url.replace(/^\//, "");
  }

  function readUrl() {
    const q = new URLSearchParams(location.search);
    const out = {};
    for (const k of ["img", "z", "x", "y", "layout", "panels", "left", "right"]) if (q.has(k)) out[k] = q.get(k);
    return out;
  }

  class Viewer {
    constructor(host, trigger) {
      this.host = host;
      this.trigger = trigger || (() => {});
      this.cfg = null;
      this.images = new Map(); // url -> HTMLImageElement (loaded)
      this.zi = 0; // index into ZOOMS
      this.ox = 0; // device px: left edge of the view in zoomed output space
      this.oy = 0;
      this.layout = "all";
      this.chosen = [];
      this.left = null;
      this.right = null;
      this.split = 0.5;
      this.fromUrl = readUrl();
      this.urlApplied = false;
      this.pointers = new Map();
      this.build();
    }

    get dpr() {
      return window.devicePixelRatio || 1;
    }

    get k() {
      return ZOOMS[this.zi];
    }

    // ------------------------------------------------------------ DOM
    build() {
      const h = this.host;
      h.classList.add("srv");
      h.innerHTML = "";
      this.zoomBtns = ZOOMS.map((z, i) =>
        el("button", {
          type: "button", class: "srv-btn", "data-zoom": String(i), text: ZOOM_NAMES[i],
          "aria-pressed": "false",
          title: i === 0 ? "Fit the whole image (smoothed)" : `${ZOOM_NAMES[i]}: each output pixel as ${z}×${z} screen pixels`,
          onclick: () => this.setZoom(i),
        }));
      this.layoutSel = el("select", { class: "srv-select", "aria-label": "Layout", onchange: () => {
        this.layout = this.layoutSel.value; this.renderGrid(); this.changed();
      } }, [["all", "All panels"], ["2", "2-up"], ["4", "4-up"]].map(([v, t]) => el("option", { value: v, text: t })));
      this.pickers = el("span", { class: "srv-pickers" });
      this.fsBtn = el("button", { type: "button", class: "srv-btn", text: "Fullscreen", title: "Fullscreen (key f)",
        onclick: () => this.fullscreen() });
      this.spot = -1;
      this.spotPrev = el("button", { type: "button", class: "srv-btn", text: "◀ p", title: "Previous place where they differ (key p)",
        "aria-label": "Previous place where the two panels differ", onclick: () => this.stepSpot(-1) });
      this.spotNext = el("button", { type: "button", class: "srv-btn", text: "n ▶", title: "Next place where they differ (key n)",
        "aria-label": "Next place where the two panels differ", onclick: () => this.stepSpot(1) });
      this.spotText = el("span", { class: "srv-spot-text", "aria-live": "polite" });
      this.spotBar = el("div", { class: "srv-spots", role: "group", "aria-label": "Where do they differ?", hidden: true },
        [this.spotPrev, this.spotNext, this.spotText]);
      this.readout = el("span", { class: "srv-readout", "aria-live": "polite" });
      this.toolbar = el("div", { class: "srv-toolbar", role: "toolbar", "aria-label": "Viewer zoom and layout" }, [
        el("span", { class: "srv-group", role: "group", "aria-label": "Zoom" }, this.zoomBtns),
        el("label", { class: "srv-lbl" }, [document.createTextNode("Layout "), this.layoutSel]),
        this.pickers, this.fsBtn, this.readout,
      ]);
      this.progress = el("div", { class: "srv-progress", role: "status", "aria-live": "polite" });
      this.notes = el("div", { class: "srv-notes" });
      this.colorbar = el("div", { class: "srv-colorbar", hidden: true });
      this.grid = el("div", {
        class: "srv-grid", tabindex: "0", role: "group",
        "aria-label": "Synced panels: arrow keys pan, + and − zoom, 0 fits, n and p step through the differences",
        onkeydown: (e) => this.onKey(e),
      });
      this.gridWrap = el("div", { class: "srv-gridwrap" }, [this.toolbar, this.spotBar, this.progress, this.notes, this.colorbar, this.grid]);
      // before / after slider: same zoom and pan as the grid, no smoothing
      this.leftSel = el("select", { class: "srv-select", "aria-label": "Slider left panel", onchange: () => {
        this.left = this.leftSel.value; this.drawSlider(); this.sliderLinks(); this.changed(); } });
      this.rightSel = el("select", { class: "srv-select", "aria-label": "Slider right panel", onchange: () => {
        this.right = this.rightSel.value; this.drawSlider(); this.sliderLinks(); this.changed(); } });
      this.range = el("input", {
        type: "range", min: "0", max: "1000", value: "500", class: "srv-range",
        "aria-label": "Before/after split position", oninput: () => { this.split = this.range.value / 1000; this.drawSlider(); },
      });
      this.sCanvas = el("canvas", { class: "srv-canvas", role: "img", tabindex: "0",
        "aria-label": "Before/after slider", onkeydown: (e) => this.onKey(e, true) });
      this.sLinks = el("span", { class: "srv-links" });
      this.slider = el("section", { class: "srv-slider", "aria-label": "Before / after slider" }, [
        el("div", { class: "srv-toolbar" }, [
          el("label", { class: "srv-lbl" }, [document.createTextNode("Left "), this.leftSel]),
          el("label", { class: "srv-lbl" }, [document.createTextNode("Right "), this.rightSel]),
          this.sLinks,
        ]),
        el("div", { class: "srv-sframe" }, [this.sCanvas]),
        this.range,
      ]);
      h.append(this.gridWrap, this.slider);
      this.bindPointer(this.sCanvas, true);
      this.ro = new ResizeObserver(() => this.resize());
      this.ro.observe(this.grid);
      this.ro.observe(this.slider);
      document.addEventListener("fullscreenchange", () => this.resize());
      this.mq = null;
      this.watchDpr();
      this.syncButtons();
    }

    watchDpr() {
      // redraw when the page zoom / screen changes devicePixelRatio
      if (this.mq) this.mq.removeEventListener("change", this._dprCb);
      this.mq = matchMedia(`(resolution: ${this.dpr}dppx)`);
      this._dprCb = () => { this.watchDpr(); this.resize(); };
      this.mq.addEventListener("change", this._dprCb);
    }

    // ------------------------------------------------------------ config
    set(cfg) {
      if (!cfg || !cfg.panels) return;
      const sameImage = this.cfg && this.cfg.source === cfg.source && this.cfg.width === cfg.width && this.cfg.height === cfg.height;
      const prev = this.cfg;
      this.cfg = cfg;
      const keys = cfg.panels.map((p) => p.key);
      if (!this.chosen.length || this.chosen.some((k) => !keys.includes(k))) this.chosen = keys.filter((k) => k !== "lr").slice(0, 4);
      if (!keys.includes(this.left)) this.left = cfg.slider_left && keys.includes(cfg.slider_left) ? cfg.slider_left : keys[1] || keys[0];
      if (!keys.includes(this.right)) this.right = cfg.slider_right && keys.includes(cfg.slider_right) ? cfg.slider_right : keys[keys.length - 1];
      if (!this.urlApplied) this.applyUrl();
      else if (!sameImage && prev) { this.zi = 0; }
      for (const p of cfg.panels) this.load(p.url);
      this.progress.textContent = cfg.progress || "";
      this.progress.hidden = !cfg.progress;
      this.notes.innerHTML = "";
      for (const n of cfg.notes || []) this.notes.appendChild(el("p", { text: n }));
      this.renderColorbar();
      this.renderPickers();
      this.renderGrid();
      this.renderSliderSelects();
      const spotKey = cfg.spots ? JSON.stringify([cfg.id, cfg.spots.a, cfg.spots.b, cfg.spots.windows]) : null;
      this.spotBar.hidden = !cfg.spots;
      if (spotKey !== this._spotKey) {
        this._spotKey = spotKey;
        this.spot = -1;
        if (cfg.spots && cfg.spots.windows.length && (!prev || !prev.spots || sameImage)) this.stepSpot(1);
      }
      this.renderSpot();
      // the table is redrawn with each config: the region columns are asked for again
      this.changed(true);
    }

    // ------------------------------------------------------------ where do they differ?
    stepSpot(d) {
      const s = this.cfg && this.cfg.spots;
      if (!s || !s.windows.length) return;
      const n = s.windows.length;
      this.spot = this.spot < 0 ? (d > 0 ? 0 : n - 1) : (this.spot + d + n) % n;
      const w = s.windows[this.spot];
      this.zi = SPOT_ZOOM;
      this.centreOn(w.x + w.w / 2, w.y + w.h / 2);
      this.clamp();
      this.syncButtons();
      this.drawAll();
      this.renderSpot();
      this.changed();
    }

    renderSpot() {
      const s = this.cfg && this.cfg.spots;
      if (!s) { this.spotText.textContent = ""; return; }
      if (!s.windows.length) { this.spotText.textContent = `${s.label}: identical, nothing to show.`; return; }
      const i = this.spot, w = s.windows[Math.max(0, i)];
      this.spotText.textContent = i < 0
        ? `${s.label}: ${s.windows.length} places where they differ most; press n or ▶. ${s.caption}`
        : `${s.label}, place ${i + 1} of ${s.windows.length}: x ${w.x}–${w.x + w.w}, y ${w.y}–${w.y + w.h}, `
          + `RMS difference ${w.rms.toFixed(1)} grey levels (luma). ${s.caption}`;
    }

    applyUrl() {
      const u = this.fromUrl;
      this.urlApplied = true;
      if (u.img && u.img !== this.cfg.source) return;
      const keys = this.cfg.panels.map((p) => p.key);
      if (u.layout && ["all", "2", "4"].includes(u.layout)) { this.layout = u.layout; this.layoutSel.value = u.layout; }
      if (u.panels) { const ps = u.panels.split(",").filter((k) => keys.includes(k)); if (ps.length) this.chosen = ps; }
      if (u.left && keys.includes(u.left)) this.left = u.left;
      if (u.right && keys.includes(u.right)) this.right = u.right;
      const zi = ZOOMS.indexOf(parseInt(u.z, 10));
      if (zi > 0) {
        this.zi = zi;
        this.pendingCentre = [parseFloat(u.x), parseFloat(u.y)];
      }
    }

    load(url) {
      if (!url || this.images.has(url)) return;
      const img = new Image();
      img.decoding = "async";
      this.images.set(url, img);
      img.onload = () => { img._ok = true; this.drawAll(); };
      img.onerror = () => { img._bad = true; this.drawAll(); };
      img.src = resolve(url);
      if (this.images.size > 64) { // forget the oldest images
        const first = this.images.keys().next().value;
        this.images.delete(first);
      }
    }

    visiblePanels() {
      const ps = this.cfg ? this.cfg.panels : [];
      if (this.layout === "all") return ps;
      const n = this.layout === "2" ? 2 : 4;
      const chosen = this.chosen.slice(0, n).map((k) => ps.find((p) => p.key === k)).filter(Boolean);
      for (const p of ps) if (chosen.length < n && !chosen.includes(p)) chosen.push(p);
      return chosen;
    }

    renderPickers() {
      this.pickers.innerHTML = "";
      if (this.layout === "all" || !this.cfg) return;
      const n = this.layout === "2" ? 2 : 4;
      const vis = this.visiblePanels().map((p) => p.key);
      for (let i = 0; i < n; i++) {
        const s = el("select", { class: "srv-select", "aria-label": `Panel ${i + 1} of ${n}`, onchange: () => {
          this.chosen = vis.slice(); this.chosen[i] = s.value; this.renderGrid(); this.changed();
        } }, this.cfg.panels.map((p) => el("option", { value: p.key, text: p.title })));
        s.value = vis[i] || "";
        this.pickers.appendChild(s);
      }
    }

    renderColorbar() {
      const cb = this.cfg && this.cfg.colorbar;
      this.colorbar.hidden = !cb;
      this.colorbar.innerHTML = "";
      if (!cb) return;
      const bar = el("div", { class: "srv-cbar", role: "img", "aria-label": `Colour scale: ${cb.label}, from ${cb.min} to ${cb.max}` });
      bar.style.background = `linear-gradient(to right, ${cb.stops.join(", ")})`;
      const ticks = el("div", { class: "srv-cticks" }, (cb.ticks || [cb.min, cb.max]).map((t) => el("span", { text: String(t) })));
      this.colorbar.append(el("div", { class: "srv-clabel", text: cb.label }), bar, ticks);
    }

    renderGrid() {
      if (!this.cfg) return;
      this.renderPickers();
      const ps = this.visiblePanels();
      this.grid.dataset.layout = this.layout;
      this.grid.innerHTML = "";
      this.canvases = [];
      for (const p of ps) {
        const c = el("canvas", { class: "srv-canvas", role: "img", "aria-label": p.alt || `${p.title} of ${this.cfg.source}`,
          "data-panel": p.key });
        this.bindPointer(c, false);
        const cap = el("figcaption", { class: "srv-cap" }, [
          el("span", { class: "srv-title", text: p.title + (p.stale ? " (previous image, updating…)" : "") }),
          p.caption ? el("span", { class: "srv-metrics", text: p.caption }) : null,
          p.file ? el("a", { class: "srv-dl", href: resolve(p.url), download: p.file, text: `⬇ ${p.file}`,
            "aria-label": `Download ${p.title} as ${p.file}` }) : null,
        ]);
        const fig = el("figure", { class: "srv-panel" + (p.stale ? " srv-stale" : ""), "data-panel": p.key }, [
          el("div", { class: "srv-frame" }, [c]), cap]);
        this.grid.appendChild(fig);
        this.canvases.push([c, p]);
      }
      this.resize();
    }

    renderSliderSelects() {
      const opts = () => this.cfg.panels.map((p) => el("option", { value: p.key, text: p.title }));
      this.leftSel.innerHTML = ""; this.rightSel.innerHTML = "";
      opts().forEach((o) => this.leftSel.appendChild(o));
      opts().forEach((o) => this.rightSel.appendChild(o));
      this.leftSel.value = this.left; this.rightSel.value = this.right;
      this.sliderLinks();
    }

    sliderLinks() {
      this.sLinks.innerHTML = "";
      for (const key of [this.left, this.right]) {
        const p = this.panel(key);
        if (p && p.file) this.sLinks.appendChild(el("a", { class: "srv-dl", href: resolve(p.url), download: p.file, text: `⬇ ${p.file}` }));
      }
      const a = this.panel(this.left), b = this.panel(this.right);
      this.sCanvas.setAttribute("aria-label", `Before/after slider of ${this.cfg.source}: ${a ? a.title : "?"} on the left, ${b ? b.title : "?"} on the right`);
    }

    panel(key) {
      return this.cfg && this.cfg.panels.find((p) => p.key === key);
    }

    // ------------------------------------------------------------ geometry
    sizeCanvas(c, cssW, cssH) {
      const d = this.dpr;
      const W = Math.max(1, Math.round(cssW * d)), H = Math.max(1, Math.round(cssH * d));
      if (c.width !== W || c.height !== H) { c.width = W; c.height = H; }
      c.style.width = W / d + "px";
      c.style.height = H / d + "px";
    }

    resize() {
      if (!this.cfg || !this.canvases) return;
      const aspect = this.cfg.height / this.cfg.width;
      const fs = document.fullscreenElement === this.host;
      for (const [c] of this.canvases) {
        const frame = c.parentElement;
        const w = Math.floor(frame.clientWidth);
        let hgt = Math.floor(w * aspect);
        const cap = fs ? (window.innerHeight - 120) / Math.ceil(this.canvases.length / Math.max(1, Math.round(this.grid.clientWidth / Math.max(w, 1)))) : window.innerHeight * 0.7;
        hgt = Math.max(120, Math.min(hgt, Math.floor(cap)));
        this.sizeCanvas(c, w, hgt);
      }
      const sw = Math.floor(this.sCanvas.parentElement.clientWidth);
      this.sizeCanvas(this.sCanvas, sw, Math.max(160, Math.min(Math.floor(sw * aspect), Math.floor(window.innerHeight * 0.8))));
      if (this.pendingCentre && this.canvases.length) {
        const [x, y] = this.pendingCentre;
        this.pendingCentre = null;
        if (isFinite(x) && isFinite(y)) this.centreOn(x, y);
      }
      this.clamp();
      this.drawAll();
    }

    viewSize() {
      // the reference view (first grid canvas), in device px
      const c = this.canvases && this.canvases[0] && this.canvases[0][0];
      return c ? [c.width, c.height] : [this.sCanvas.width, this.sCanvas.height];
    }

    fitScale(W, H) {
      return Math.min(W / this.cfg.width, H / this.cfg.height);
    }

    centreOn(x, y) {
      const [W, H] = this.viewSize();
      this.ox = Math.round(x * this.k - W / 2);
      this.oy = Math.round(y * this.k - H / 2);
    }

    clamp() {
      if (!this.cfg || this.k === 0) return;
      const [W, H] = this.viewSize();
      const iw = this.cfg.width * this.k, ih = this.cfg.height * this.k;
      this.ox = iw <= W ? Math.round((iw - W) / 2) : Math.min(Math.max(0, Math.round(this.ox)), iw - W);
      this.oy = ih <= H ? Math.round((ih - H) / 2) : Math.min(Math.max(0, Math.round(this.oy)), ih - H);
    }

    // the output-pixel point under device px (px, py) of the reference view
    pointAt(px, py) {
      const [W, H] = this.viewSize();
      if (this.k === 0) {
        const f = this.fitScale(W, H);
        return [(px - (W - this.cfg.width * f) / 2) / f, (py - (H - this.cfg.height * f) / 2) / f];
      }
      return [(this.ox + px) / this.k, (this.oy + py) / this.k];
    }

    setZoom(zi, px, py) {
      if (!this.cfg) return;
      zi = Math.max(0, Math.min(ZOOMS.length - 1, zi));
      const [W, H] = this.viewSize();
      if (px === undefined) { px = W / 2; py = H / 2; }
      const [x, y] = this.pointAt(px, py);
      this.zi = zi;
      if (this.k) { this.ox = Math.round(x * this.k - px); this.oy = Math.round(y * this.k - py); }
      this.clamp();
      this.syncButtons();
      this.drawAll();
      this.changed();
    }

    panBy(dx, dy) { // device px
      if (!this.cfg || this.k === 0) return;
      this.ox += dx; this.oy += dy;
      this.clamp();
      this.drawAll();
      this.changed();
    }

    panTo(ox, oy) { // device px
      if (!this.cfg || this.k === 0) return;
      this.ox = ox; this.oy = oy;
      this.clamp();
      this.drawAll();
      this.changed();
    }

    visibleRegion() {
      const [W, H] = this.viewSize();
      const cw = this.cfg.width, ch = this.cfg.height;
      if (this.k === 0) return { x: 0, y: 0, w: cw, h: ch };
      const x0 = Math.max(0, Math.floor(this.ox / this.k)), y0 = Math.max(0, Math.floor(this.oy / this.k));
      const x1 = Math.min(cw, Math.ceil((this.ox + W) / this.k)), y1 = Math.min(ch, Math.ceil((this.oy + H) / this.k));
      return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
    }

    // ------------------------------------------------------------ drawing
    drawPanel(c, p, clipX0, clipX1) {
      const ctx = c.getContext("2d");
      const W = c.width, H = c.height;
      ctx.save();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      if (clipX0 !== undefined) { ctx.beginPath(); ctx.rect(clipX0, 0, clipX1 - clipX0, H); ctx.clip(); }
      ctx.fillStyle = getComputedStyle(this.host).getPropertyValue("--srv-bg") || "#222";
      ctx.fillRect(0, 0, W, H);
      const img = p && p.url ? this.images.get(p.url) : null;
      if (!img || !img._ok) {
        ctx.fillStyle = "#ddd"; ctx.font = `${14 * this.dpr}px sans-serif`; ctx.textAlign = "center";
        ctx.fillText(!p || !p.url ? "waiting for this model…" : img && img._bad ? "image failed to load" : "loading…", W / 2, H / 2);
        ctx.restore();
        return;
      }
      const s = p.scale || 1; // output pixels per image pixel (4 for the LR input)
      const iw = img.naturalWidth, ih = img.naturalHeight;
      if (this.k === 0) {
        const f = this.fitScale(W, H);
        ctx.imageSmoothingEnabled = true;
        ctx.imageSmoothingQuality = "high";
        const dw = this.cfg.width * f, dh = this.cfg.height * f;
        ctx.drawImage(img, 0, 0, iw, ih, (W - dw) / 2, (H - dh) / 2, iw * s * f, ih * s * f);
      } else {
        const f = this.k * s; // device px per image pixel: an integer
        ctx.imageSmoothingEnabled = false;
        const ix0 = Math.max(0, Math.floor(this.ox / f)), iy0 = Math.max(0, Math.floor(this.oy / f));
        const ix1 = Math.min(iw, Math.ceil((this.ox + W) / f)), iy1 = Math.min(ih, Math.ceil((this.oy + H) / f));
        if (ix1 > ix0 && iy1 > iy0) {
          ctx.drawImage(img, ix0, iy0, ix1 - ix0, iy1 - iy0, ix0 * f - this.ox, iy0 * f - this.oy, (ix1 - ix0) * f, (iy1 - iy0) * f);
        }
      }
      ctx.restore();
    }

    drawAll() {
      if (!this.cfg || !this.canvases) return;
      for (const [c, p] of this.canvases) this.drawPanel(c, p);
      this.drawSlider();
      const r = this.visibleRegion();
      this.readout.textContent = this.k === 0
        ? `Fit: whole image (${Math.round(this.fitScale(...this.viewSize()) * 100 / this.dpr)} % of CSS size, smoothed)`
        : `${ZOOM_NAMES[this.zi]} · showing x ${r.x}–${r.x + r.w}, y ${r.y}–${r.y + r.h}`;
    }

    drawSlider() {
      if (!this.cfg) return;
      const c = this.sCanvas;
      // the slider shares the grid's zoom and pan; its own canvas is centred on the same point
      const [W0, H0] = this.viewSize();
      const W = c.width, H = c.height;
      const save = [this.ox, this.oy, this.canvases];
      if (this.k) { this.ox = this.ox + Math.round((W0 - W) / 2); this.oy = this.oy + Math.round((H0 - H) / 2); }
      this.canvases = [[c]];
      const sx = Math.round(W * this.split);
      this.drawPanel(c, this.panel(this.left), 0, sx);
      this.drawPanel(c, this.panel(this.right), sx, W);
      [this.ox, this.oy, this.canvases] = save;
      const ctx = c.getContext("2d");
      ctx.fillStyle = "#fff";
      ctx.fillRect(sx - Math.round(this.dpr), 0, Math.max(1, Math.round(2 * this.dpr)), H);
      this.range.value = String(Math.round(this.split * 1000));
    }

    // ------------------------------------------------------------ input
    bindPointer(c, isSlider) {
      c.addEventListener("pointerdown", (e) => {
        c.setPointerCapture(e.pointerId);
        const sx = this.sCanvas.width * this.split / this.dpr;
        const onHandle = isSlider && Math.abs(e.offsetX - sx) < 14;
        this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY, x0: e.clientX, y0: e.clientY,
          ox0: this.ox, oy0: this.oy, handle: onHandle, c });
        if (this.pointers.size === 2) {
          const [a, b] = [...this.pointers.values()];
          this.pinch = Math.hypot(a.x - b.x, a.y - b.y);
        }
      });
      c.addEventListener("pointermove", (e) => {
        const p = this.pointers.get(e.pointerId);
        if (!p) return;
        p.x = e.clientX; p.y = e.clientY;
        if (this.pointers.size === 2 && this.pinch) {
          const [a, b] = [...this.pointers.values()];
          const d = Math.hypot(a.x - b.x, a.y - b.y);
          const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2, r = c.getBoundingClientRect();
          const at = [(mx - r.left) * this.dpr, (my - r.top) * this.dpr];
          if (d > this.pinch * 1.4) { this.setZoom(this.zi + 1, ...at); this.pinch = d; }
          else if (d < this.pinch / 1.4) { this.setZoom(this.zi - 1, ...at); this.pinch = d; }
          return;
        }
        if (p.handle) {
          const r = c.getBoundingClientRect();
          this.split = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
          this.drawSlider();
          return;
        }
        // from the drag's start (no rounding drift): the picture follows the pointer pixel for pixel
        this.panTo(p.ox0 - Math.round((e.clientX - p.x0) * this.dpr), p.oy0 - Math.round((e.clientY - p.y0) * this.dpr));
      });
      const up = (e) => {
        this.pointers.delete(e.pointerId);
        if (this.pointers.size < 2) this.pinch = null;
        for (const q of this.pointers.values()) { // after a pinch, the remaining finger pans from here
          q.x0 = q.x; q.y0 = q.y; q.ox0 = this.ox; q.oy0 = this.oy;
        }
      };
      c.addEventListener("pointerup", up);
      c.addEventListener("pointercancel", up);
      c.addEventListener("wheel", (e) => {
        if (!this.cfg) return;
        e.preventDefault();
        const r = c.getBoundingClientRect();
        let px = (e.clientX - r.left) * this.dpr, py = (e.clientY - r.top) * this.dpr;
        if (isSlider) { const [W0, H0] = this.viewSize(); px += (W0 - c.width) / 2; py += (H0 - c.height) / 2; }
        this.setZoom(this.zi + (e.deltaY < 0 ? 1 : -1), px, py);
      }, { passive: false });
    }

    onKey(e, isSlider) {
      const step = Math.round((e.shiftKey ? 256 : 64) * this.dpr);
      const keys = {
        ArrowLeft: () => (isSlider && e.altKey ? this.nudgeSplit(-0.05) : this.panBy(-step, 0)),
        ArrowRight: () => (isSlider && e.altKey ? this.nudgeSplit(0.05) : this.panBy(step, 0)),
        ArrowUp: () => this.panBy(0, -step),
        ArrowDown: () => this.panBy(0, step),
        "+": () => this.setZoom(this.zi + 1), "=": () => this.setZoom(this.zi + 1),
        "-": () => this.setZoom(this.zi - 1), "_": () => this.setZoom(this.zi - 1),
        "0": () => this.setZoom(0),
        f: () => this.fullscreen(),
        n: () => this.stepSpot(1),
        p: () => this.stepSpot(-1),
        "[": () => this.nudgeSplit(-0.05), "]": () => this.nudgeSplit(0.05),
      };
      const fn = keys[e.key];
      if (fn && !e.ctrlKey && !e.metaKey) { e.preventDefault(); fn(); }
    }

    nudgeSplit(d) {
      this.split = Math.min(1, Math.max(0, this.split + d));
      this.drawSlider();
    }

    fullscreen() {
      if (document.fullscreenElement) document.exitFullscreen();
      else if (this.gridWrap.requestFullscreen) this.gridWrap.requestFullscreen().then(() => this.resize()).catch(() => {});
    }

    syncButtons() {
      this.zoomBtns.forEach((b, i) => b.setAttribute("aria-pressed", i === this.zi ? "true" : "false"));
      this.host.dataset.zoom = String(this.k);
      // at fit a vertical swipe scrolls the page; zoomed in, a swipe pans the panels
      this.host.classList.toggle("srv-zoomed", this.k !== 0);
    }

    // ------------------------------------------------------------ state out: URL and region
    changed(force) {
      this.syncButtons();
      clearTimeout(this._t);
      this._t = setTimeout(() => this.emit(force), 350);
    }

    emit(force) {
      if (!this.cfg) return;
      const r = this.visibleRegion();
      const key = JSON.stringify([this.cfg.id, r]);
      if (force || key !== this._lastRegion) {
        this._lastRegion = key;
        this.trigger("region", { x: r.x, y: r.y, w: r.w, h: r.h, id: this.cfg.id });
      }
      const q = new URLSearchParams(location.search);
      const [W, H] = this.viewSize();
      const [cx, cy] = this.pointAt(W / 2, H / 2);
      const set = { img: this.cfg.source, z: String(this.k), layout: this.layout, left: this.left, right: this.right };
      if (this.k) { set.x = String(Math.round(cx)); set.y = String(Math.round(cy)); } else { q.delete("x"); q.delete("y"); }
      if (this.layout !== "all") set.panels = this.visiblePanels().map((p) => p.key).join(","); else q.delete("panels");
      const bl = this.cfg.blend;
      if (bl) { set.ba = bl.a; set.bb = bl.b; set.alpha = Number(bl.alpha).toFixed(2); }
      else { q.delete("ba"); q.delete("bb"); q.delete("alpha"); }
      for (const [k, v] of Object.entries(set)) if (v !== null && v !== undefined) q.set(k, v);
      history.replaceState(history.state, "", location.pathname + "?" + q.toString() + location.hash);
    }
  }

  function parse(v) {
    if (!v) return null;
    if (typeof v === "object") return v;
    try { return JSON.parse(v); } catch (e) { return null; }
  }

  window.SRViewer = {
    Viewer,
    ZOOMS,
    mount(element, props, trigger, watch) {
      const host = element.querySelector(".srv-host") || element;
      if (host._srv) { host._srv.set(parse(props.value)); return host._srv; }
      const v = new Viewer(host, trigger);
      host._srv = v;
      v.set(parse(props.value));
      if (watch) watch("value", () => v.set(parse(props.value)));
      return v;
    },
  };
})();
