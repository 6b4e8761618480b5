// effbench history site: filters on the index, and on a series page the link between the trend's points and the
// runs table (hover either to see the other) plus the button that shows older runs. Plain DOM, no data fetched:
// everything is in the page, which is why it works from file://.
(function () {
  "use strict";

  var table = document.getElementById("series");
  var selects = document.querySelectorAll("select[data-filter]");
  function applyFilters() {
    var rows = table.tBodies[0].rows, shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var keep = true;
      for (var j = 0; j < selects.length; j++) {
        var want = selects[j].value;
        if (want && rows[i].getAttribute("data-" + selects[j].getAttribute("data-filter")) !== want) keep = false;
      }
      rows[i].hidden = !keep;
      if (keep) shown++;
    }
    document.getElementById("shown").textContent = shown + " of " + rows.length + " series";
  }
  if (table) {
    for (var s = 0; s < selects.length; s++) selects[s].addEventListener("change", applyFilters);
    applyFilters(); // a browser restores the selects on back: apply what they show
  }

  var points = document.querySelectorAll("#trend-points use");
  var tip = document.getElementById("tip");
  function rowOf(i) { return document.querySelector('tr[data-point="' + i + '"]'); }
  function mark(i, on, x, y) {
    var row = rowOf(i);
    if (points[i]) points[i].classList.toggle("hot", on);
    if (!row) return;
    row.classList.toggle("hot", on);
    if (tip && x !== undefined) {
      tip.hidden = !on;
      tip.textContent = row.getAttribute("data-tip");
      tip.style.left = x + 12 + "px";
      tip.style.top = y + 12 + "px";
    }
  }
  Array.prototype.forEach.call(points, function (point, i) {
    point.addEventListener("mouseenter", function (e) { mark(i, true, e.clientX, e.clientY); });
    point.addEventListener("mouseleave", function () { mark(i, false, 0, 0); });
    point.addEventListener("click", function () {
      var row = rowOf(i);
      if (!row) return;
      row.closest("table").classList.add("show-older");
      row.scrollIntoView({ block: "center" });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("tr[data-point]"), function (row) {
    var i = Number(row.getAttribute("data-point"));
    row.addEventListener("mouseenter", function () { mark(i, true); });
    row.addEventListener("mouseleave", function () { mark(i, false); });
  });

  Array.prototype.forEach.call(document.querySelectorAll("button[data-toggle=older]"), function (button) {
    var label = button.textContent;
    button.addEventListener("click", function () {
      var runs = document.querySelector("table.runs");
      var on = runs.classList.toggle("show-older");
      button.textContent = on ? "show the newest runs only" : label;
    });
  });
})();
