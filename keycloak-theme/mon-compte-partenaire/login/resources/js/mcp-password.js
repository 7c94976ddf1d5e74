// Tick each password rule as the user types (issue 12 §6). The list is rendered by the theme from the realm's
// password policy; Keycloak checks everything again on submit (history, e-mail: only the server knows).
const list = document.getElementById("mcp-password-rules");
const pwd = document.getElementById("password-new");
const confirm = document.getElementById("password-confirm");
if (list && pwd) {
  const count = (re, s) => (s.match(re) || []).length;
  const checks = {
    length: (s, v) => [...s].length >= Number(v),
    maxLength: (s, v) => [...s].length <= Number(v),
    upperCase: (s, v) => count(/\p{Lu}/gu, s) >= Number(v),
    lowerCase: (s, v) => count(/\p{Ll}/gu, s) >= Number(v),
    digits: (s, v) => count(/[0-9]/g, s) >= Number(v),
    specialChars: (s, v) => count(/[^\p{L}\p{N}]/gu, s) >= Number(v),
    // a rule compared with a value the page does not have is never ticked here: the server says (issue 29)
    notUsername: (s, v) => Boolean(v) && s.length > 0 && s.toLowerCase() !== v.toLowerCase(),
    notEmail: (s, v) => Boolean(v) && s.length > 0 && s.toLowerCase() !== v.toLowerCase(),
    match: (s) => s.length > 0 && confirm && s === confirm.value,
  };
  const items = [...list.querySelectorAll("li[data-rule]")].filter((li) => checks[li.dataset.rule]);
  for (const li of items) {
    const state = document.createElement("span");
    state.className = "mcp-rule-state";
    li.append(state);
  }
  const update = () => {
    for (const li of items) {
      const ok = pwd.value.length > 0 && checks[li.dataset.rule](pwd.value, li.dataset.value);
      li.classList.toggle("mcp-ok", ok);
      li.querySelector(".mcp-rule-state").textContent = " — " + (ok ? list.dataset.done : list.dataset.todo);
    }
  };
  pwd.addEventListener("input", update);
  if (confirm) confirm.addEventListener("input", update);
  update();
}
