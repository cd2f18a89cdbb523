// bench.glass_to_glass's Chromium reference: one page, two roles (?role=send|recv).
//
// send: creates the VideoRoom (admin_key), publishes a 30 fps stream whose every frame
//       is drawn on a canvas with the frame stamp (framestamp.js) at the moment it is
//       handed to WebRTC (MediaStreamTrackGenerator: the page's "capture").
// recv: subscribes to ?feed=, and in requestVideoFrameCallback draws the <video>'s
//       code area on a canvas, reads the stamp, and records capture -> callback.
// Janus is spoken directly over its WebSocket API (no janus.js): create, attach, join,
// configure/start with a full (non-trickle) SDP. State for the bench: window.g2g.
"use strict";
(() => {
  const q = new URLSearchParams(location.search);
  const role = q.get("role");
  const width = +q.get("w"), height = +q.get("h"), fps = +(q.get("fps") || 30);
  const room = +q.get("room");
  const g2g = (window.g2g = { role, phase: "start", samples: [], unreadable: 0, sizes: [], error: "" });
  const fail = (e) => { g2g.phase = "error"; g2g.error = String(e && e.stack || e); };

  // Same ramp hints as the patient page (resources/web/patient/patient.js): Chromium
  // seeds its bandwidth estimate from them in the remote description.
  const RAMP = "x-google-start-bitrate=1500;x-google-min-bitrate=800;x-google-max-bitrate=2500";
  function withRampHints(sdp) {
    const video = new Set();
    for (const m of sdp.matchAll(/^a=rtpmap:(\d+) (VP8|H264)\//gim)) video.add(m[1]);
    return sdp.split("\r\n").map((line) => {
      const f = /^a=fmtp:(\d+) ?(.*)$/.exec(line);
      if (f && video.has(f[1])) return `a=fmtp:${f[1]} ${f[2] ? f[2] + ";" : ""}${RAMP}`;
      const r = /^a=rtpmap:(\d+) /.exec(line);
      if (r && video.has(r[1]) && !sdp.includes(`a=fmtp:${r[1]} `)) return `${line}\r\na=fmtp:${r[1]} ${RAMP}`;
      return line;
    }).join("\r\n");
  }

  class Janus {
    constructor(url) {
      this.ws = new WebSocket(url, "janus-protocol");
      this.pending = new Map();
      this.ws.onmessage = (m) => this.onMessage(JSON.parse(m.data));
      this.open = new Promise((ok, ko) => { this.ws.onopen = ok; this.ws.onerror = ko; });
    }
    onMessage(msg) {
      const p = msg.transaction && this.pending.get(msg.transaction);
      if (p && msg.janus !== "ack") { this.pending.delete(msg.transaction); p(msg); }
    }
    call(body) {
      const transaction = Math.random().toString(36).slice(2);
      return new Promise((ok) => {
        this.pending.set(transaction, ok);
        this.ws.send(JSON.stringify({ ...body, transaction, session_id: this.session }));
      });
    }
    async start() {
      await this.open;
      this.session = (await this.call({ janus: "create" })).data.id;
      setInterval(() => this.call({ janus: "keepalive" }), 20000);
      this.handle = (await this.call({ janus: "attach", plugin: "janus.plugin.videoroom" })).data.id;
    }
    message(body, jsep) {
      return this.call({ janus: "message", handle_id: this.handle, body, ...(jsep ? { jsep } : {}) });
    }
  }

  async function gathered(pc) {
    if (pc.iceGatheringState === "complete") return;
    await new Promise((ok) => pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") ok();
    }));
  }

  async function send(janus) {
    const created = await janus.message({
      request: "create", room, admin_key: q.get("admin_key") || undefined, publishers: 4,
      bitrate: +(q.get("bitrate") || 2500000), videocodec: "vp8", audiocodec: "opus",
    });
    const data = created.plugindata && created.plugindata.data;
    if (!data || (data.videoroom !== "created" && data.error_code !== 427)) throw new Error(JSON.stringify(created));
    const canvas = document.createElement("canvas");
    canvas.width = width; canvas.height = height;
    const ctx = canvas.getContext("2d", { alpha: false, willReadFrequently: false });
    const generator = new MediaStreamTrackGenerator({ kind: "video" });
    generator.contentHint = "detail"; // as the patient page: keep resolution, drop frame rate
    const writer = generator.writable.getWriter();
    let counter = 0;
    const started = performance.now();
    async function tick() {
      const t = (performance.now() - started) / 1000;
      // Colour bars and a moving gradient, like the consoles' testsrc (something to encode).
      const bars = ["#c0c0c0", "#c0c000", "#00c0c0", "#00c000", "#c000c0", "#c00000", "#0000c0"];
      bars.forEach((c, i) => { ctx.fillStyle = c; ctx.fillRect((i * width) / 7, 0, width / 7 + 1, height * 0.66); });
      const shift = (t * 120) % width;
      const grad = ctx.createLinearGradient(-shift, 0, width * 2 - shift, 0);
      grad.addColorStop(0, "#000"); grad.addColorStop(0.5, "#fff"); grad.addColorStop(1, "#000");
      ctx.fillStyle = grad; ctx.fillRect(0, height * 0.66, width, height * 0.34);
      const ts = FrameStamp.draw(ctx, width, counter);
      const frame = new VideoFrame(canvas, { timestamp: Number(ts) });
      counter++;
      try { await writer.write(frame); } catch (e) { fail(e); }
      g2g.sent = counter;
      const next = started + (counter * 1000) / fps;
      setTimeout(tick, Math.max(0, next - performance.now()));
    }
    tick();
    const stream = new MediaStream([generator]);
    const pc = new RTCPeerConnection({ iceServers: [] });
    pc.addTransceiver(generator, { direction: "sendonly", streams: [stream] });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const offer = pc.localDescription;
    // An asynchronous request: the reply with our transaction is the event itself.
    const ev = await janus.message(
      { request: "joinandconfigure", ptype: "publisher", room, display: "chromium-sender", audio: false, video: true },
      { type: offer.type, sdp: offer.sdp, trickle: false },
    );
    if (!ev.jsep) throw new Error(JSON.stringify(ev));
    await pc.setRemoteDescription({ type: "answer", sdp: withRampHints(ev.jsep.sdp) });
    g2g.feed = ev.plugindata.data.id;
    g2g.pc = pc;
    g2g.phase = "sending";
  }

  async function recv(janus) {
    const feed = +q.get("feed");
    const ev = await janus.message({ request: "join", ptype: "subscriber", room, streams: [{ feed }] });
    if (!ev.jsep) throw new Error(JSON.stringify(ev));
    const pc = new RTCPeerConnection({ iceServers: [] });
    const video = document.createElement("video");
    video.muted = true; video.autoplay = true; video.playsInline = true;
    document.body.appendChild(video);
    pc.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); video.play().catch(fail); };
    await pc.setRemoteDescription(ev.jsep);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    const answer = pc.localDescription;
    await janus.message({ request: "start" }, { type: answer.type, sdp: answer.sdp, trickle: false });
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    g2g.recording = false;
    function onFrame(now, meta) {
      const at = FrameStamp.nowUs();
      const w = meta.width, h = meta.height;
      const last = g2g.sizes[g2g.sizes.length - 1];
      if (!last || last[1] !== w || last[2] !== h) g2g.sizes.push([performance.now(), w, h]);
      g2g.size = [w, h];
      if (g2g.recording) {
        const [cw, ch] = FrameStamp.codeSize(w);
        if (canvas.width !== cw || canvas.height !== ch) { canvas.width = cw; canvas.height = ch; }
        ctx.drawImage(video, 0, 0, cw, ch, 0, 0, cw, ch);
        const stamp = FrameStamp.readRgba(ctx.getImageData(0, 0, cw, ch).data, cw, w);
        if (stamp === null) g2g.unreadable++;
        else {
          // expectedDisplayTime: when the compositor means to show it (same clock as now).
          const expected = BigInt(Math.round((performance.timeOrigin + meta.expectedDisplayTime) * 1000)) & ((1n << 48n) - 1n);
          g2g.samples.push([stamp.counter, FrameStamp.ageMs(stamp, at), FrameStamp.ageMs(stamp, expected), w, h]);
        }
      }
      video.requestVideoFrameCallback(onFrame);
    }
    video.requestVideoFrameCallback(onFrame);
    g2g.pc = pc;
    g2g.phase = "receiving";
  }

  (async () => {
    const janus = new Janus(q.get("server"));
    await janus.start();
    g2g.phase = "joining";
    await (role === "send" ? send(janus) : recv(janus));
  })().catch(fail);
})();
