// Server errors shown next to the field they name. The OpenAI envelope's `param` is the wire name
// ("seed", "prompts[1].frames", "input_reference.image_url"); each field's wrapper carries that
// name in data-param, and a name with no field of its own falls back to its parent's.

function candidates(param) {
  const out = [];
  for (let p = param; p; p = p.replace(/(\[[^\]]*\]|\.[^.[]*)$/, "")) {
    out.push(p);
    if (!/(\[[^\]]*\]|\.[^.[]*)$/.test(p)) break;
  }
  return out;
}

export function clearErrors(root) {
  for (const el of root.querySelectorAll(".error")) el.textContent = "";
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

// Shows `err` beside its field in `root`, else in `fallback`; focuses the field so a keyboard or
// screen-reader user lands on it. Returns the element that holds the message.
export function showError(root, err, fallback) {
  const param = err.param || "";
  let field = null;
  for (const name of candidates(param)) {
    field = root.querySelector(`[data-param="${CSS.escape(name)}"]`);
    if (field) break;
  }
  const box = field ? field.querySelector(":scope > .error") : null;
  const target = box || fallback;
  target.textContent = err.message;
  if (field) {
    const input = field.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }
  return target;
}
