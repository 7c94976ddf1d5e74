// Submits the form marked data-autosubmit (RP-initiated logout by POST: no token in a URL).
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-autosubmit]");
  if (form) { form.submit(); }
});
