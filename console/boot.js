// Start-up: wire the login form, logout, tenant switcher and router; resume a live session if any.
"use strict";

(function boot() {
  const form = document.getElementById("login-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = document.getElementById("login-submit");
    const msg = document.getElementById("login-message");
    btn.disabled = true;
    msg.classList.add("hidden");
    try {
      await login(document.getElementById("login-username").value, document.getElementById("login-password").value);
      document.getElementById("login-password").value = "";
      await startShell();
    } catch (e) {
      msg.textContent = e.status === 401 ? "Invalid username or password." : e.message;
      if (e.status === 429) msg.textContent = "Too many attempts: " + e.message;
      msg.classList.remove("info");
      msg.classList.remove("hidden");
    } finally {
      btn.disabled = false;
    }
  });
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("tenant-switcher").addEventListener("change", (e) => switchTenant(e.target.value));
  window.addEventListener("hashchange", route);

  // A session cookie may still be valid (reload): ask who we are.
  api("GET", "/api/useraccount", undefined, { noTenant: true, noAuthRedirect: true })
    .then((account) => startShell(account))
    .catch((e) => showLogin(e.status === 401 || e.status === 403 ? "" : e.message));
})();
