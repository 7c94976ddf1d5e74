// Long actions (they reconcile Keycloak): disable the button and say it is in progress.
document.addEventListener("submit", function (event) {
  var button = event.target.querySelector("button[type=submit]");
  if (button && !event.target.hasAttribute("data-autosubmit")) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = "Traitement en cours…";
  }
});
