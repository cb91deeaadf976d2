/* The console's only script besides htmx and KaTeX: typeset the $...$ maths of the bank, stream a hint or an
   explanation from the API (POST, server-sent events, read with fetch since EventSource cannot POST), and time
   how long a student took to answer. */
(function () {
  "use strict";
  const opened = Date.now();
  const MATH = {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
    ],
    throwOnError: false,
    strict: "ignore",
    ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option", "input"],
  };
  function typeset(root) {
    if (window.renderMathInElement) window.renderMathInElement(root, MATH);
  }
  if (window.htmx) window.htmx.onLoad(typeset); // the page, then every fragment htmx swaps in
  document.addEventListener("submit", (e) => {
    const timer = e.target.querySelector("[data-timer]");
    if (timer) timer.value = String(Date.now() - opened);
  }, true);

  const tutor = document.getElementById("tutor");
  if (!tutor) return;
  const status = document.getElementById("stream-status");
  const out = document.getElementById("stream-text");
  const list = document.getElementById("stream-sources");
  let busy = false;

  function showSources(citations) {
    list.replaceChildren();
    for (const c of citations) {
      const li = document.createElement("li");
      li.dataset.n = String(c.n);
      const label = "[" + c.n + "] " + c.title;
      if (c.kind === "question" && Number.isInteger(c.id)) {
        const a = document.createElement("a");
        a.href = "/console/questions/" + c.id;
        a.textContent = label;
        li.append(a);
      } else {
        li.textContent = label;
      }
      list.append(li);
    }
  }

  function markCited(citations) {
    for (const c of citations) {
      const li = list.querySelector('li[data-n="' + c.n + '"]');
      if (!li || li.querySelector(".tag")) continue;
      const tag = document.createElement("span");
      tag.className = "tag ok";
      tag.textContent = status.dataset.cited;
      li.append(" ", tag);
    }
  }

  const source = document.getElementById("stream-source");
  let level = 0; // the hint ladder's level asked for: each new hint on this page climbs one step

  function tag(text, kind) {
    const span = document.createElement("span");
    span.className = "tag" + (kind ? " " + kind : "");
    span.textContent = text;
    return span;
  }

  // Where the text that follows comes from: the model, or the bank when the model's answer failed the
  // checks. A model answer already on screen that is replaced is said to be, never swapped silently.
  function answering(data) {
    const replaced = data.source !== "model" && out.textContent.length > 0;
    out.textContent = data.source === "model" ? out.textContent : "";
    const words = source.dataset[data.kind] || source.dataset.model;
    source.replaceChildren(tag(words.replace("{level}", String(data.level || 1)), data.source === "none" ? "bad" : ""));
    source.dataset.source = data.source;
    if (replaced) source.append(" ", tag(source.dataset.replaced, "bad"));
    source.hidden = false;
  }

  const PASSED = source.dataset.passed;
  function checked(data) {
    source.dataset.state = data.passed ? "passed" : "failed";
    if (!data.passed) return;
    const ok = tag("✓ " + PASSED, "ok");
    ok.title = data.checks.map((c) => c.check).join(", ");
    source.append(" ", ok);
  }

  function handle(event, data) {
    if (event === "sources") showSources(data.citations);
    else if (event === "started") status.textContent = status.dataset.writing + " (" + data.provider + "/" + data.model + ")";
    else if (event === "answering") answering(data);
    else if (event === "delta") out.textContent += data.text;
    else if (event === "checked") checked(data);
    else if (event === "error") status.textContent = status.dataset.failed + ": " + data.message;
    else if (event === "cited") markCited(data.citations);
  }

  async function stream(kind) {
    if (busy) return;
    busy = true;
    const buttons = tutor.querySelectorAll("button[data-stream]");
    buttons.forEach((b) => { b.disabled = true; });
    out.textContent = "";
    source.hidden = true;
    source.replaceChildren();
    status.textContent = status.dataset.waiting;
    const init = { method: "POST", headers: { Accept: "text/event-stream" }, credentials: "same-origin" };
    if (kind === "hint") {
      const attempt = document.getElementById("student-answer").value.trim();
      init.headers["Content-Type"] = "application/json";
      level += 1;
      init.body = JSON.stringify({ student_answer: attempt || null, level: level });
    }
    let broken = false;
    try {
      const res = await fetch("/questions/" + tutor.dataset.question + "/" + kind, init);
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new Error(typeof body.detail === "string" ? body.detail : String(res.status));
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data) handle(event, JSON.parse(data));
          if (event === "error") broken = true;
        }
      }
      if (!broken) status.textContent = status.dataset.done;
      if (kind === "hint") tutor.querySelector('button[data-stream="hint"]').textContent = status.dataset.more;
      typeset(out);
    } catch (err) {
      status.textContent = status.dataset.failed + ": " + err.message;
    } finally {
      busy = false;
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  tutor.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-stream]");
    if (button) stream(button.dataset.stream);
  });
})();
