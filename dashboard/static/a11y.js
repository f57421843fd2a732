() => {
  // Accessibility fixes for Gradio's own widgets (passed to launch(js=...), served with the page):
  // an upload area whose aria-label leaves out its visible text gets the visible text as its name;
  // an empty-state box labelled without a role gets role="img"; a scrolling box with nothing
  // focusable inside becomes focusable (so keyboard users can scroll it); a toast's header, marked
  // up by Gradio as a button around its own close button (nested controls), keeps only the real button.
  const focusable = "a[href], button, input, select, textarea, [tabindex]";
  const fix = () => {
    for (const h of document.querySelectorAll(".toast-header[role='button']")) {
      if (!h.querySelector("button")) continue;
      h.removeAttribute("role");
      h.removeAttribute("tabindex");
    }
    for (const el of document.querySelectorAll("div[aria-label]:not([role])")) el.setAttribute("role", "img");
    // a button with no name (e.g. an image's enlarge button): named after its image or its block's label
    for (const b of document.querySelectorAll("button:not([aria-label])")) {
      if ((b.innerText || "").trim() || b.title) continue;
      const img = b.querySelector("img[alt]:not([alt=''])");
      const block = b.closest(".block");
      const lbl = block && block.querySelector("[data-testid='block-label'], label, .label");
      const name = (img && img.alt) || (lbl && lbl.innerText.trim()) || "";
      b.setAttribute("aria-label", name ? `Enlarge: ${name}` : "Enlarge image");
    }
    for (const el of document.querySelectorAll(".block, .prose, .table-wrap, .tabitem > .column")) {
      const cs = getComputedStyle(el);
      const scrolls = (el.scrollHeight > el.clientHeight + 1 && /(auto|scroll)/.test(cs.overflowY))
        || (el.scrollWidth > el.clientWidth + 1 && /(auto|scroll)/.test(cs.overflowX));
      if (scrolls && !el.hasAttribute("tabindex") && !el.querySelector(focusable)) el.setAttribute("tabindex", "0");
    }
    for (const el of document.querySelectorAll(".boundedheight[aria-label], [data-testid='file-upload'] [aria-label]")) {
      const text = (el.innerText || "").replace(/\s+/g, " ").trim();
      const name = el.getAttribute("aria-label") || "";
      if (text && !name.toLowerCase().includes(text.toLowerCase())) el.setAttribute("aria-label", text);
    }
  };
  fix();
  let t = null;
  new MutationObserver(() => { clearTimeout(t); t = setTimeout(fix, 200); })
    .observe(document.body, { childList: true, subtree: true });
}
