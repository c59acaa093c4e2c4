// Progressive enhancement for the door: where the browser offers BarcodeDetector and a camera,
// a button scans the applicant's QR code and submits it; everywhere else, typing the code works.
(function () {
  "use strict";
  var scanner = document.getElementById("scanner");
  var form = document.getElementById("checkin-form");
  if (!scanner || !form || !("BarcodeDetector" in window) || !navigator.mediaDevices) {
    return;
  }
  var input = document.getElementById("kode");
  var video = document.getElementById("scan-video");
  var status = document.getElementById("scan-status");
  var start = document.getElementById("scan-start");
  scanner.hidden = false;

  start.addEventListener("click", function () {
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        start.hidden = true;
        status.textContent = "Arahkan kamera ke kode QR pemohon…";
        return video.play().then(function () { look(detector, stream); });
      })
      .catch(function () {
        status.textContent = "Kamera tidak bisa dibuka. Ketik kodenya saja.";
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
