// Long actions (they reconcile Keycloak): disable the button pressed and say it is in progress. A disabled
// button is not sent with the form: its name and value (« confirmed » or « revoked ») travel in a hidden field.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var button = event.submitter || form.querySelector("button[type=submit]");
  if (button && !form.hasAttribute("data-autosubmit")) {
    if (button.name) {
      var carried = document.createElement("input");
      carried.type = "hidden";
      carried.name = button.name;
      carried.value = button.value;
      form.appendChild(carried);
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = "Traitement en cours…";
  }
});
