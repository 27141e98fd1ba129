// Progressive enhancement only: every page works without this file.
"use strict";

// Times: the server writes UTC; show them in the reader's own time zone, UTC on hover.
function localTimes() {
  const fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short",
  });
  document.querySelectorAll("time[datetime]").forEach((el) => {
    const when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) {
      el.title = el.textContent;
      el.textContent = fmt.format(when);
    }
  });
}

// Compose: warn at once when the language is not one the recipient accepts (the words
// come from the page, so they follow the page's language).
function languageHint() {
  const to = document.getElementById("to");
  const language = document.getElementById("language");
  const hint = document.getElementById("language-hint");
  if (!to || !language || !hint) return;
  const check = () => {
    const option = to.options[to.selectedIndex];
    const accepted = (option && option.dataset.languages || "").split(",").filter(Boolean);
    const base = language.value.trim().toLowerCase().split("-")[0];
    if (base && accepted.length && !accepted.some((l) => l.toLowerCase().split("-")[0] === base)) {
      hint.textContent = (hint.dataset.template || "")
        .replace("{recipient}", option.value)
        .replace("{accepted}", accepted.join(", "))
        .replace("{language}", language.value);
      hint.classList.add("warn");
    } else {
      hint.textContent = "";
      hint.classList.remove("warn");
    }
  };
  to.addEventListener("change", () => {
    // show the new recipient's requirements (server-rendered) by reloading the form
    const params = new URLSearchParams({ to: to.value });
    const chosen = document.getElementById("case"); // the case chosen stays chosen
    if (chosen && chosen.value) params.set("case", chosen.value);
    if (!document.getElementById("body").value) window.location.search = params.toString();
    check();
  });
  language.addEventListener("input", check);
  check();
}

// Compose: spontaneous information (UNTOC art. 18(4)) expects no answer, so it takes no
// deadline: hide the field (and empty it) while that kind is chosen.
function deadlineForKind() {
  const kind = document.getElementById("kind");
  const field = document.getElementById("deadline-field");
  const hint = document.getElementById("no-deadline-hint");
  if (!kind || !field || !hint) return;
  const toggle = () => {
    const spontaneous = kind.value === "spontaneous_information";
    field.hidden = spontaneous;
    hint.hidden = !spontaneous;
    if (spontaneous) document.getElementById("deadline").value = "";
  };
  kind.addEventListener("change", toggle);
  toggle();
}

// Evidence files: sent in parts to /api/uploads (the core of tus 1.0), each part from
// where the node says the upload stands, so a broken connection costs one part, not the
// file; a progress bar per file. The form then carries each file as its upload's id
// ("uploaded"), not again as a file. Without this script the form sends the files whole.
const UPLOAD_PART = 8 * 1024 * 1024;

// a refusal that trying again at once will not change (the node's disk is full)
class Refused extends Error {}

function base64Text(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

async function uploadInParts(file, form, csrf, list, texts) {
  const item = document.createElement("li");
  const bar = document.createElement("progress");
  bar.max = file.size;
  bar.value = 0;
  item.append(file.name + " ", bar);
  list.append(item);
  const tus = { "X-CSRF-Token": csrf, "Tus-Resumable": "1.0.0" };
  const meta = "filename " + base64Text(file.name) + ",filetype " +
    base64Text(file.type || "application/octet-stream");
  const created = await fetch("/api/uploads", {
    method: "POST", credentials: "same-origin",
    headers: { ...tus, "Upload-Length": String(file.size), "Upload-Metadata": meta },
  });
  if (created.status === 507) throw new Refused(texts.noRoom);
  if (created.status !== 201) throw new Error("upload refused: HTTP " + created.status);
  const where = created.headers.get("Location");
  const finish = (id) => {
    const hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "uploaded";
    hidden.value = id;
    form.append(hidden);
    bar.value = file.size;
    item.append(" ✓ " + (texts.uploaded || ""));
  };
  let offset = 0;
  let failures = 0;
  for (;;) {
    try {
      const sent = await fetch(where, {
        method: "PATCH", credentials: "same-origin",
        headers: { ...tus, "Upload-Offset": String(offset),
                   "Content-Type": "application/offset+octet-stream" },
        body: file.slice(offset, offset + UPLOAD_PART),
      });
      if (sent.status === 200) {
        finish((await sent.json()).id);
        return;
      }
      if (sent.status === 204) {
        offset = Number(sent.headers.get("Upload-Offset"));
        bar.value = offset;
        failures = 0;
        continue;
      }
      if (sent.status === 507) throw new Refused(texts.noRoom);
      if (sent.status !== 409) throw new Error("upload refused: HTTP " + sent.status);
    } catch (err) {
      if (err instanceof Refused || ++failures > 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1000 * failures));
    }
    // the connection broke or the upload is elsewhere: ask where it stands, go on
    const head = await fetch(where, { method: "HEAD", credentials: "same-origin", headers: tus });
    if (head.status !== 200) throw new Error("upload lost: HTTP " + head.status);
    offset = Number(head.headers.get("Upload-Offset"));
    bar.value = offset;
    if (offset === file.size) { // whole already, its last answer lost: the id is the upload's
      finish(where.split("/").pop());
      return;
    }
  }
}

function resumableUploads() {
  document.querySelectorAll('input[type="file"][name="attachment"]').forEach((input) => {
    const form = input.form;
    const token = form && form.querySelector('input[name="csrf_token"]');
    if (!form || !token || !window.fetch || !window.TextEncoder) return;
    input.addEventListener("change", async () => {
      const files = Array.from(input.files);
      if (!files.length || files.some((f) => f.size === 0)) return; // sent whole instead
      const list = document.createElement("ul");
      list.className = "attachments uploads";
      input.after(list);
      const buttons = form.querySelectorAll('button[type="submit"]');
      buttons.forEach((b) => { b.disabled = true; });
      try {
        for (const file of files) {
          await uploadInParts(file, form, token.value, list, input.dataset);
        }
        input.value = ""; // each file now travels as its upload's id
      } catch (err) {
        const said = document.createElement("li");
        said.setAttribute("role", "alert");
        said.className = "error";
        said.textContent = String(err.message || err); // the form can still send them whole
        list.append(said);
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  languageHint();
  deadlineForKind();
  resumableUploads();
});
