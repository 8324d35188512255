// Long forms (an import of thousands of lines): say that it is working, and prevent a
// second submission.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = "…"; }
      var note = document.createElement("p");
      note.className = "notice";
      note.setAttribute("role", "status");
      note.textContent = document.documentElement.lang === "en" ? "Working, please wait…" : "Traitement en cours, veuillez patienter…";
      form.appendChild(note);
    });
  });
});
