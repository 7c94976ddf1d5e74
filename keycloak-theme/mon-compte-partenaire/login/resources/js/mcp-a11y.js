// keycloak.v2 (26.7) has labels pointing at no element: the identifiant shown read-only after the password
// (template.ftl: <label for="username"> beside id="kc-attempted-username") and the TOTP page's code and device name
// (login-config-totp.ftl: for="form-vertical-name" etc.). Screen readers and axe-core then find unlabelled fields.
// Point each such label at the field of its own form group.
document.addEventListener("DOMContentLoaded", () => {
  for (const label of document.querySelectorAll("label[for]")) {
    if (document.getElementById(label.htmlFor)) continue;
    const group = label.closest(".pf-v5-c-form__group");
    const field = group && group.querySelector("input:not([type=hidden]), select, textarea");
    if (field && field.id && field.labels.length === 0) label.htmlFor = field.id;
  }
});
