// The console's one script (no inline scripts: the CSP forbids them).
// A form with data-progress="<id of a <progress>>" uploads with XHR so the
// officer sees its progress; without JavaScript it posts normally.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var barId = form.getAttribute("data-progress");
  if (!barId || !window.FormData || !window.XMLHttpRequest) { return; }
  var bar = document.getElementById(barId);
  var files = form.querySelector("input[type=file]");
  if (!bar || !files || files.files.length === 0) { return; }
  event.preventDefault();
  var xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  bar.hidden = false;
  xhr.upload.addEventListener("progress", function (e) {
    if (e.lengthComputable) { bar.value = Math.round((e.loaded / e.total) * 100); }
  });
  xhr.addEventListener("load", function () {
    if (xhr.responseURL && xhr.status < 400) { window.location.assign(xhr.responseURL); return; }
    document.open(); document.write(xhr.responseText); document.close();
  });
  xhr.addEventListener("error", function () { bar.hidden = true; alert("上传失败，请检查网络后重试。"); });
  xhr.send(new FormData(form));
});
