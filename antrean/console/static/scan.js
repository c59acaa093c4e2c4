// The door's QR scanner: where the browser offers BarcodeDetector and a camera, a button scans the
// applicant's QR code and submits it. Where it cannot, the page says why (staff otherwise only see
// a missing button) and the code is typed instead. Browsers give the camera and BarcodeDetector
// only to secure contexts: HTTPS, or the machine's own 127.0.0.1/localhost.
(function () {
  "use strict";
  var scanner = document.getElementById("scanner");
  var form = document.getElementById("checkin-form");
  if (!scanner || !form) {
    return;
  }
  var input = document.getElementById("kode");
  var video = document.getElementById("scan-video");
  var status = document.getElementById("scan-status");
  var start = document.getElementById("scan-start");
  var unavailable = document.getElementById("scan-unavailable");
  var TYPE_IT = " Ketik kode booking di kolom di atas.";

  function explain(text) {
    unavailable.textContent = text + TYPE_IT;
    unavailable.hidden = false;
    start.hidden = true;
  }

  function reason() {
    if (!window.isSecureContext) {
      return "Pemindai kamera tidak tersedia: konsol ini dibuka lewat http:// biasa, dan peramban hanya " +
        "mengizinkan kamera pada halaman HTTPS. Minta admin membuka konsol lewat https:// " +
        "(docs/deploying.md, \u201cThe console on the office network\u201d).";
    }
    if (!("BarcodeDetector" in window)) {
      return "Peramban ini tidak mendukung pemindaian QR (BarcodeDetector); Chrome di Android mendukungnya.";
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return "Perangkat ini tidak memberi akses ke kamera.";
    }
    return null;
  }

  var why = reason();
  if (why) {
    explain(why);
    return;
  }
  start.hidden = false;

  start.addEventListener("click", function () {
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        start.hidden = true;
        status.textContent = "Arahkan kamera ke kode QR pemohon\u2026";
        return video.play().then(function () { look(detector, stream); });
      })
      .catch(function (error) {
        explain(error && error.name === "NotAllowedError"
          ? "Izin kamera ditolak. Izinkan kamera untuk situs ini di pengaturan peramban."
          : "Kamera tidak bisa dibuka (" + (error && error.name ? error.name : "galat") + ").");
      });
  });

  function stop(stream) {
    stream.getTracks().forEach(function (track) { track.stop(); });
    video.hidden = true;
  }

  function look(detector, stream) {
    detector.detect(video).then(function (codes) {
      if (codes.length > 0) {
        stop(stream);
        input.value = codes[0].rawValue;
        status.textContent = "Kode terbaca: " + codes[0].rawValue;
        form.submit();
      } else {
        window.setTimeout(function () { look(detector, stream); }, 250);
      }
    }).catch(function () {
      window.setTimeout(function () { look(detector, stream); }, 500);
    });
  }
})();
