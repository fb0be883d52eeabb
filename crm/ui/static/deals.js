// The pipeline board (crm/ui/deals.py): drag a card to another column with the mouse, or focus a card and
// press the left or right arrow key, or use the card's "Move to" select. Each move is the card's own move
// form sent with fetch (CSRF token in the form and as a header); the answer's column totals and forecast
// replace the shown ones and a live region says what happened. Without this script the forms post as they
// are and the page comes back.
(function () {
  "use strict";
  var board = document.querySelector("[data-board]");
  if (!board) {
    return;
  }
  var status = document.getElementById("board-status");
  var dragged = null;

  function announce(text) {
    // Emptied first, so the same words twice are read twice.
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function columnOf(stageId) {
    return board.querySelector('[data-stage-id="' + stageId + '"]');
  }

  function stageIds() {
    return Array.prototype.map.call(board.querySelectorAll("[data-stage-id]"), function (el) {
      return el.getAttribute("data-stage-id");
    });
  }

  function setText(root, selector, text) {
    var el = root.querySelector(selector);
    if (el) {
      el.textContent = text;
    }
  }

  function showTotals(data) {
    (data.columns || []).forEach(function (c) {
      var column = columnOf(c.stage_id);
      if (!column) {
        return;
      }
      setText(column, "[data-count]", c.count_text);
      setText(column, "[data-total]", c.total);
      setText(column, "[data-weighted]", c.weighted);
      var empty = column.querySelector("[data-empty]");
      if (empty) {
        empty.hidden = c.count > 0;
      }
    });
    if (data.forecast !== undefined) {
      setText(document, "[data-forecast]", data.forecast);
    }
  }

  function placeCard(card, stageId, age) {
    var list = columnOf(stageId).querySelector("[data-cards]");
    list.appendChild(card);
    card.setAttribute("data-stage", stageId);
    card.classList.remove("is-stale");
    setText(card, "[data-age]", age || "");
    var select = card.querySelector("select[name=stage_id]");
    if (select) {
      select.value = stageId;
    }
  }

  function move(card, stageId) {
    var from = card.getAttribute("data-stage");
    if (!stageId || stageId === from) {
      return;
    }
    var form = card.querySelector("form[data-move]");
    var body = new FormData(form);
    body.set("stage_id", stageId);
    card.setAttribute("aria-busy", "true");
    // The answer's words in the page's language (a ?lang= on the page is not in the form's action).
    var url = form.action + (form.action.indexOf("?") < 0 ? "?" : "&") + "lang=" +
      encodeURIComponent(document.documentElement.lang || "");
    fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": body.get("csrf_token") || "" }
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      card.removeAttribute("aria-busy");
      if (!result.ok || !result.data.ok) {
        announce(result.data.message || board.getAttribute("data-failed"));
        return;
      }
      placeCard(card, stageId, result.data.age);
      showTotals(result.data);
      announce(result.data.message);
      card.focus();
    }).catch(function () {
      card.removeAttribute("aria-busy");
      announce(board.getAttribute("data-failed"));
    });
  }

  // The "Move to" form: sent with fetch instead of a page load.
  board.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-move")) {
      return;
    }
    event.preventDefault();
    var card = form.closest("[data-deal]");
    move(card, form.querySelector("select[name=stage_id]").value);
  });

  // Keyboard: on a focused card, left and right move it one column.
  board.addEventListener("keydown", function (event) {
    var card = event.target;
    if (!card.hasAttribute || !card.hasAttribute("data-deal")) {
      return;
    }
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") {
      return;
    }
    var ids = stageIds();
    var next = ids.indexOf(card.getAttribute("data-stage")) + (event.key === "ArrowRight" ? 1 : -1);
    if (next >= 0 && next < ids.length) {
      event.preventDefault();
      move(card, ids[next]);
    }
  });

  // The mouse: HTML5 drag and drop of a card onto a column.
  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest("[data-deal]");
    if (!card) {
      return;
    }
    dragged = card;
    card.classList.add("is-dragged");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-deal"));
  });
  board.addEventListener("dragend", function () {
    if (dragged) {
      dragged.classList.remove("is-dragged");
    }
    dragged = null;
    Array.prototype.forEach.call(board.querySelectorAll(".is-target"), function (el) {
      el.classList.remove("is-target");
    });
  });
  board.addEventListener("dragover", function (event) {
    var column = event.target.closest && event.target.closest("[data-stage-id]");
    if (dragged && column) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      column.classList.add("is-target");
    }
  });
  board.addEventListener("dragleave", function (event) {
    var column = event.target.closest && event.target.closest("[data-stage-id]");
    if (column && !column.contains(event.relatedTarget)) {
      column.classList.remove("is-target");
    }
  });
  board.addEventListener("drop", function (event) {
    var column = event.target.closest && event.target.closest("[data-stage-id]");
    if (!dragged || !column) {
      return;
    }
    event.preventDefault();
    column.classList.remove("is-target");
    move(dragged, column.getAttribute("data-stage-id"));
  });

  board.classList.add("is-enhanced");
})();
