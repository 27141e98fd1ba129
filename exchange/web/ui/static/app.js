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

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  languageHint();
  deadlineForKind();
});
