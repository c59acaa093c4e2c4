// NLU inbox: mark an entity by selecting part of the message text, then "Tandai sorotan". The
// spans (character offsets into the text) travel in the form's hidden "entitas" field as JSON;
// the server checks them again. Without JavaScript, intents can still be confirmed or changed.
(function () {
  "use strict";

  function offsetIn(element, node, offset) {
    var range = document.createRange();
    range.setStart(element, 0);
    range.setEnd(node, offset);
    return range.toString().length;
  }

  function render(form) {
    var field = form.querySelector("input[name=entitas]");
    var textElement = form.querySelector(".nlu-text");
    var text = textElement.getAttribute("data-text");
    var spans = JSON.parse(field.value || "[]").sort(function (a, b) { return a.start - b.start; });
    textElement.textContent = "";
    var position = 0;
    spans.forEach(function (span) {
      textElement.appendChild(document.createTextNode(text.slice(position, span.start)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(span.start, span.end);
      mark.title = span.entity;
      mark.className = "entity entity-" + span.entity;
      textElement.appendChild(mark);
      position = span.end;
    });
    textElement.appendChild(document.createTextNode(text.slice(position)));
    var chips = form.querySelector(".entity-chips");
    chips.textContent = "";
    spans.forEach(function (span, index) {
      var item = document.createElement("li");
      item.textContent = span.entity + ": " + text.slice(span.start, span.end) + " ";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.textContent = "hapus";
      remove.addEventListener("click", function () {
        spans.splice(index, 1);
        field.value = JSON.stringify(spans);
        render(form);
      });
      item.appendChild(remove);
      chips.appendChild(item);
    });
  }

  document.querySelectorAll(".nlu-form").forEach(function (form) {
    var textElement = form.querySelector(".nlu-text");
    var field = form.querySelector("input[name=entitas]");
    form.querySelector(".entity-tool").hidden = false;
    render(form);
    form.querySelector(".mark-entity").addEventListener("click", function () {
      var selection = window.getSelection();
      if (!selection.rangeCount || selection.isCollapsed) { return; }
      var range = selection.getRangeAt(0);
      if (!textElement.contains(range.startContainer) || !textElement.contains(range.endContainer)) { return; }
      var start = offsetIn(textElement, range.startContainer, range.startOffset);
      var end = offsetIn(textElement, range.endContainer, range.endOffset);
      var text = textElement.getAttribute("data-text");
      while (start < end && /\s/.test(text[start])) { start += 1; }
      while (end > start && /\s/.test(text[end - 1])) { end -= 1; }
      if (start >= end) { return; }
      var spans = JSON.parse(field.value || "[]").filter(function (s) { return s.end <= start || s.start >= end; });
      spans.push({ start: start, end: end, entity: form.querySelector(".entity-name").value });
      field.value = JSON.stringify(spans);
      selection.removeAllRanges();
      render(form);
    });
  });
})();
