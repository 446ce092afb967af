// Sign in through POST /auth/login (JSON); the hub answers with HttpOnly session cookies.
"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const body = JSON.stringify({
    username: document.getElementById("username").value,
    password: document.getElementById("password").value,
  });
  try {
    const answer = await fetch("/auth/login", {
      method: "POST", headers: {"Content-Type": "application/json"}, body, credentials: "same-origin",
    });
    if (answer.ok) { window.location.assign("/admin"); return; }
    const problem = await answer.json().catch(() => ({}));
    error.textContent = problem.detail || `sign-in failed (${answer.status})`;
  } catch (failure) {
    error.textContent = `the hub cannot be reached: ${failure}`;
  }
});
