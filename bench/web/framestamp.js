// media/framestamp.py in JavaScript: the same 16 x 6 block code (32-bit counter,
// 48-bit timestamp in µs, CRC-16/CCITT-FALSE), drawn on and read from canvases.
// bench.glass_to_glass's Chromium reference uses it; a test checks both versions agree.
"use strict";
const FrameStamp = (() => {
  const COLUMNS = 16, ROWS = 6, BITS = 96, MIN_BLOCK = 16, PER_WIDTH = 40;
  const WHITE = 235, BLACK = 16;
  const MASK48 = (1n << 48n) - 1n;

  function crc16(bytes) {
    let crc = 0xffff;
    for (const b of bytes) {
      crc ^= b << 8;
      for (let i = 0; i < 8; i++) crc = (crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1) & 0xffff;
    }
    return crc;
  }
  const blockPx = (width) => Math.max(MIN_BLOCK, Math.floor(width / PER_WIDTH));
  // The stamp clock: µs since the epoch (performance.timeOrigin + now()), mod 2^48, so
  // two pages on one machine compare stamps. (The consoles use CLOCK_MONOTONIC.)
  const nowUs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) & MASK48;

  function bits(counter, timestampUs) {
    const payload = ((BigInt(counter >>> 0)) << 48n) | (BigInt(timestampUs) & MASK48);
    const body = [];
    for (let i = 9; i >= 0; i--) body.push(Number((payload >> BigInt(8 * i)) & 0xffn));
    const crc = crc16(body);
    const bytes = body.concat([crc >> 8, crc & 0xff]);
    const out = [];
    for (const b of bytes) for (let i = 7; i >= 0; i--) out.push((b >> i) & 1);
    return out;
  }

  // Draw the code in the canvas's top-left corner; returns the timestamp drawn (BigInt).
  function draw(ctx, width, counter, timestampUs) {
    const ts = timestampUs === undefined ? nowUs() : timestampUs;
    const block = blockPx(width);
    const b = bits(counter, ts);
    for (let r = 0; r < ROWS; r++) {
      for (let c = 0; c < COLUMNS; c++) {
        const v = b[r * COLUMNS + c] ? WHITE : BLACK;
        ctx.fillStyle = `rgb(${v},${v},${v})`;
        ctx.fillRect(c * block, r * block, block, block);
      }
    }
    return ts;
  }

  // Read from RGBA pixels (ImageData.data) of a region at least the code's size, whose
  // row length is `stride` pixels; the frame was `width` pixels wide. null if unreadable.
  function readRgba(data, stride, width) {
    const block = blockPx(width);
    const inset = Math.floor(block / 4);
    const out = [];
    for (let r = 0; r < ROWS; r++) {
      for (let c = 0; c < COLUMNS; c++) {
        let sum = 0, n = 0;
        for (let y = r * block + inset; y < (r + 1) * block - inset; y++) {
          for (let x = c * block + inset; x < (c + 1) * block - inset; x++) {
            const i = (y * stride + x) * 4;
            sum += (data[i] + data[i + 1] + data[i + 2]) / 3;
            n++;
          }
        }
        out.push(sum / n > (WHITE + BLACK) / 2 ? 1 : 0);
      }
    }
    const bytes = [];
    for (let i = 0; i < BITS / 8; i++) {
      let v = 0;
      for (let j = 0; j < 8; j++) v = (v << 1) | out[i * 8 + j];
      bytes.push(v);
    }
    if (crc16(bytes.slice(0, 10)) !== ((bytes[10] << 8) | bytes[11])) return null;
    let payload = 0n;
    for (const b of bytes.slice(0, 10)) payload = (payload << 8n) | BigInt(b);
    return { counter: Number(payload >> 48n), timestampUs: payload & MASK48 };
  }

  const ageMs = (stamp, now) => Number(((now === undefined ? nowUs() : now) - stamp.timestampUs) & MASK48) / 1000;
  const codeSize = (width) => [COLUMNS * blockPx(width), ROWS * blockPx(width)];
  return { draw, readRgba, nowUs, ageMs, codeSize, blockPx, crc16 };
})();
if (typeof module !== "undefined") module.exports = FrameStamp;
