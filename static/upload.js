// Progressive enhancement: an attachment upload shows its progress. Without
// JavaScript the same form posts normally.
document.querySelectorAll("form[data-upload]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    if (!window.FormData || !window.XMLHttpRequest) return;
    event.preventDefault();
    var bar = form.querySelector("progress");
    var button = form.querySelector("button");
    bar.hidden = false;
    button.disabled = true;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    };
    xhr.onload = function () { window.location = xhr.responseURL || window.location.href; };
    xhr.onerror = function () { button.disabled = false; bar.hidden = true; };
    xhr.send(new FormData(form));
  });
});

// While someone types, their session stays alive: a form typed for twenty
// minutes is not refused at the end (the server renews the session cookie).
(function () {
  var last = Date.now();
  document.addEventListener("input", function () {
    if (Date.now() - last < 240000) return;
    last = Date.now();
    if (window.fetch) fetch("/session/alive", { credentials: "same-origin" });
  });
})();
