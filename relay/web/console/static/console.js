// relay console: small conveniences on top of plain forms. Every page works without it.
"use strict";

// The template playground: choosing a recent webhook or typing JSON picks that payload
// source, so the radio button does not have to be set by hand.
document.addEventListener("DOMContentLoaded", function () {
  function pickOnInput(fieldId, radioId) {
    var field = document.getElementById(fieldId);
    var radio = document.getElementById(radioId);
    if (!field || !radio) {
      return;
    }
    ["input", "change"].forEach(function (name) {
      field.addEventListener(name, function () {
        if (!radio.disabled) {
          radio.checked = true;
        }
      });
    });
  }
  pickOnInput("p-webhook", "src-webhook");
  pickOnInput("p-payload", "src-paste");
});

// After htmx swaps in a result, move focus to its heading so that keyboard and screen
// reader users land on what changed (the overview's own refresh is left alone).
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail && event.detail.target;
  if (!target || target.id === "live") {
    return;
  }
  var fresh = document.getElementById(target.id);
  var heading = fresh && fresh.querySelector("h2");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
});
