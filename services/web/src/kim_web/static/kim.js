// KIM Hub web: progressive enhancement only. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // After a refusal, move the keyboard focus to the message so screen readers read it first.
  const problem = document.querySelector(".notice--error[tabindex='-1']");
  if (problem) problem.focus();

  // New referral: ask the consent gate again whenever a field changes (the same request the "prüfen" button sends).
  const form = document.querySelector("form[data-gate-form]");
  if (!form) return;
  form.addEventListener("change", async () => {
    const body = new URLSearchParams(new FormData(form));
    body.set("action", "pruefen");
    try {
      // getAttribute: form.action would be the button named "action"
      const response = await fetch(form.getAttribute("action"), { method: "POST", body, credentials: "same-origin" });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const id of ["gate-answer", "gate-buttons"]) {
        const fresh = page.getElementById(id);
        if (fresh) document.getElementById(id).replaceWith(fresh);
      }
    } catch (err) {
      // offline or refused: the "prüfen" button still works
    }
  });
});
