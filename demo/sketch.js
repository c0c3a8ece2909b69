// The sketchpad of "Draw a digit": a canvas drawn on with a mouse, a pen or a finger. When a stroke ends, the
// drawing is sent as text (SIDE rows of SIDE hex digits, how much ink each cell holds), which is all the server
// needs: no image upload, so the app still accepts no files. Runs as gr.HTML's js_on_load (element, props, trigger).
const SIDE = 56;
const canvas = element.querySelector("canvas");
const context = canvas.getContext("2d");
const small = document.createElement("canvas");
small.width = small.height = SIDE;
const smallContext = small.getContext("2d", { willReadFrequently: true });
let last = null;

function clear() {
  context.fillStyle = "#000";
  context.fillRect(0, 0, canvas.width, canvas.height);
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}

function line(from, to) {
  context.strokeStyle = "#fff";
  context.lineWidth = canvas.width / 12;
  context.lineCap = context.lineJoin = "round";
  context.beginPath();
  context.moveTo(...from);
  context.lineTo(...to);
  context.stroke();
}

function send() {
  smallContext.drawImage(canvas, 0, 0, SIDE, SIDE);
  const pixels = smallContext.getImageData(0, 0, SIDE, SIDE).data;
  const rows = [];
  for (let y = 0; y < SIDE; y++) {
    let row = "";
    for (let x = 0; x < SIDE; x++) row += (pixels[4 * (y * SIDE + x)] >> 4).toString(16);
    rows.push(row);
  }
  props.value = rows.join("/");
  trigger("change");
}

canvas.addEventListener("pointerdown", (event) => {
  canvas.setPointerCapture(event.pointerId);
  last = point(event);
  line(last, last);
});
canvas.addEventListener("pointermove", (event) => {
  if (last === null) return;
  const next = point(event);
  line(last, next);
  last = next;
});
for (const name of ["pointerup", "pointercancel"]) {
  canvas.addEventListener(name, () => {
    if (last === null) return;
    last = null;
    send();
  });
}
element.querySelector(".sketch-clear").addEventListener("click", () => {
  clear();
  props.value = "";
  trigger("change");
});
clear();
