// « Mot de passe en clair »: the checkbox shows the typed password. The label is hidden in
// the HTML so that, without JavaScript, the page shows no control that does nothing.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-show-password-for]").forEach(function (label) {
    var ids = label.getAttribute("data-show-password-for").split(/\s+/);
    var box = label.querySelector("input[type=checkbox]");
    label.hidden = false;
    box.addEventListener("change", function () {
      ids.forEach(function (id) {
        var input = document.getElementById(id);
        if (input) { input.type = box.checked ? "text" : "password"; }
      });
    });
  });
});
