// Cairn panel: confirmation, actions (POST JSON to this server), copy, and live updates.
// No library; served by the panel itself (the Content-Security-Policy allows nothing else).
"use strict";
(function () {
  const base = document.body.dataset.base;
  let stamp = document.body.dataset.stamp;
  const dialog = document.getElementById("confirm");

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;  // never innerHTML: text stays text
    return e;
  }

  function show(ok, message, fix, command) {
    const box = el("div", "result " + (ok ? "ok" : "fail"));
    box.setAttribute("role", "status");
    box.appendChild(el("div", "msg", message));
    if (fix) box.appendChild(el("div", "hint", "fix: " + fix));
    if (command) {
      const row = el("div", "cmd");
      row.appendChild(el("code", "command", command));
      const copy = el("button", "copy", "Copy");
      copy.type = "button";
      copy.addEventListener("click", function () {
        navigator.clipboard.writeText(command).then(function () { copy.textContent = "Copied"; },
          function () { copy.textContent = "Select and copy"; });
      });
      row.appendChild(copy);
      box.appendChild(row);
    }
    const results = document.getElementById("results");
    results.replaceChildren(box);
  }

  function ask(button) {
    // The confirmation: the message, and what the action needs (a stage, feedback).
    return new Promise(function (resolve) {
      document.getElementById("confirm-text").textContent = button.dataset.confirm || "Are you sure?";
      const stageRow = document.getElementById("confirm-stage-row");
      const select = document.getElementById("confirm-stage");
      const fbRow = document.getElementById("confirm-feedback-row");
      const feedback = document.getElementById("confirm-feedback");
      select.replaceChildren();
      (button.dataset.stages ? button.dataset.stages.split(",") : []).forEach(function (s) {
        const o = el("option", "", s); o.value = s; select.appendChild(o);
      });
      stageRow.hidden = !button.dataset.stages;
      fbRow.hidden = !button.dataset.feedback;
      feedback.value = "";
      feedback.required = button.dataset.feedback === "required";
      dialog.onclose = function () {
        if (dialog.returnValue !== "ok") { resolve(null); return; }
        resolve({stage: select.value || null, feedback: feedback.value});
      };
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  async function act(button) {
    const answer = await ask(button);
    if (answer === null) return;
    const url = base + "/api/w/" + encodeURIComponent(button.dataset.wid) + "/" + button.dataset.action;
    try {
      const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                  body: JSON.stringify(answer), credentials: "same-origin"});
      const data = await r.json();
      show(data.ok, data.message, data.fix, data.command);
    } catch (e) {
      show(false, "The panel did not answer: " + e, "is `cairn ui` still running?");
    }
    refresh(true);
  }

  document.addEventListener("click", function (ev) {
    const b = ev.target.closest("button[data-action]");
    if (b && !b.disabled) { ev.preventDefault(); act(b); }
  });

  let busy = false, again = false;

  async function refresh(force) {
    // Re-render the page's content from the server when the database changed; one at a
    // time (a slow answer must not land after a newer one), a forced one queued.
    if (busy) { again = again || force; return; }
    if (dialog.open) return;
    busy = true;
    try {
      const r = await fetch(base + "/api/stamp", {cache: "no-store"});
      const now = (await r.json()).stamp;
      const live = document.getElementById("live");
      live.classList.remove("stale");
      live.textContent = "live";
      if (!force && now === stamp) return;
      const page = await fetch(location.href, {cache: "no-store"});
      const doc = new DOMParser().parseFromString(await page.text(), "text/html");
      const fresh = doc.getElementById("content");
      if (fresh && !dialog.open) {
        document.getElementById("content").replaceChildren(...fresh.childNodes);
        stamp = doc.body.dataset.stamp || now;
        document.body.dataset.stamp = stamp;
      }
    } catch (e) {
      const live = document.getElementById("live");
      live.classList.add("stale");
      live.textContent = "not updating: is `cairn ui` still running?";
    } finally {
      busy = false;
      if (again) { again = false; refresh(true); }
    }
  }
  setInterval(refresh, 1000);
})();
