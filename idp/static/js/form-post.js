// response_mode=form_post: submit the answer to the module at once; the « Continuer »
// button does the same without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("form-post");
  if (form) { form.submit(); }
});
