() => {
  // Accessibility fixes for Gradio's own widgets (passed to launch(js=...), served with the page):
  // an upload area whose aria-label leaves out its visible text gets the visible text as its name.
  const fix = () => {
    for (const el of document.querySelectorAll(".boundedheight[aria-label], [data-testid='file-upload'] [aria-label]")) {
      const text = (el.innerText || "").replace(/\s+/g, " ").trim();
      const name = el.getAttribute("aria-label") || "";
      if (text && !name.toLowerCase().includes(text.toLowerCase())) el.setAttribute("aria-label", text);
    }
  };
  fix();
  new MutationObserver(fix).observe(document.body, { childList: true, subtree: true });
}
