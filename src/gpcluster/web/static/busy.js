// Forms whose work runs in a worker process (roster upload, model comparison) say it is under way:
// the button is disabled (no double submission) and a status line, read out by screen readers, appears.
(function () {
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var status = document.createElement("p");
      status.className = "busy";
      status.setAttribute("role", "status");
      status.textContent = form.getAttribute("data-busy");
      form.appendChild(status);
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    });
  });
})();
