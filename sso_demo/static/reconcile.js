// While a change waits for the reconcile worker (« en attente »), ask every second where Keycloak stands
// and say it in place (role=status: screen readers hear the outcome), for two minutes at most.
(function () {
  var el = document.getElementById("etat-keycloak");
  if (!el || !el.classList.contains("etat-attente") || !el.dataset.url) return;
  var tries = 0;
  function label(state) {
    return state === "applied" ? "ok" : state === "pending" ? "attente" : "echec";
  }
  function poll() {
    tries += 1;
    fetch(el.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s && s.state && s.state !== "pending") {
          el.className = "etat-" + label(s.state);
          el.querySelector("strong").textContent = s.label;
          var note = el.querySelector(".etat-note");
          note.textContent = s.reason ? " — " + s.reason : "";
        } else if (tries < 120) {
          setTimeout(poll, 1000);
        }
      })
      .catch(function () { if (tries < 120) setTimeout(poll, 2000); });
  }
  setTimeout(poll, 500);
})();
