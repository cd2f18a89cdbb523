/* The patient join page: plain JS on janus.js (libjs-janus-gateway), no build step.
 *
 * The link's fragment carries server, room, pin and the host's public key (never sent
 * to the web server). Once read, the PIN leaves the address bar and the history entry
 * (history.replaceState) and stays in sessionStorage for this tab only, so a reload or
 * "Join again" still works. The server must be one of this page's media servers
 * (<meta name="cc-media-servers">, generated with the CSP by make_page.py).
 *
 * Flow: camera + microphone (self-view), name, then the visit's waiting room
 * (room + 1), publishing nothing: the patient sees and hears nobody. The display
 * there is {token, name} sealed to the host's key (sealRequest; media/visit/sealed.py
 * is the other end), so other people waiting learn nothing. The clinician admits by
 * adding the token to the main room's allowed list and kicking us from the waiting
 * room; then we join the main room with that token (participant id derived from it,
 * so the host can take the token back if it removes us), publish, and subscribe.
 *
 * window.ccVisit exposes the state for tests and support (no media, no names).
 */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const server = params.get("server");
  const room = parseInt(params.get("room") || "", 10);
  const hostKey = params.get("key") || "";
  const saved = "ccVisit:" + room + ":" + server;  // this tab's PIN and token for this visit
  let stored = {};
  try { stored = JSON.parse(sessionStorage.getItem(saved) || "{}"); } catch (e) { stored = {}; }
  const pin = params.get("pin") || stored.pin || "";
  // Same token for the tab's life: a patient who left may come back in with it.
  const token = stored.token || Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0")).join("");
  if (pin) sessionStorage.setItem(saved, JSON.stringify({ pin, token }));
  if (params.has("pin")) {
    params.delete("pin");  // out of the address bar and of this history entry
    history.replaceState(null, "", location.pathname + location.search + "#" + params.toString());
  }
  const mediaServers = (() => {
    const meta = document.querySelector('meta[name="cc-media-servers"]');
    try { return meta ? JSON.parse(meta.content) : []; } catch (e) { return []; }
  })();

  const state = {
    phase: "starting",  // starting | ready | waiting | joining | in_call | ended | error
    error: "",
    remotes: {},        // feed id -> {tracks, width, height, stamps, lastCounter}
    published: false,
    check: { camera: "", micPeak: 0, speakerPlayed: false },  // the pre-join device check
  };
  window.ccVisit = state;

  // --- the sealed waiting-room request (ECDH P-256 + HKDF-SHA256 + AES-256-GCM) -----

  function b64url(bytes) {
    let text = "";
    for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64url(text) {
    const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  async function sealRequest(name) {
    const subtle = crypto.subtle;
    const host = await subtle.importKey("raw", unb64url(hostKey),
      { name: "ECDH", namedCurve: "P-256" }, false, []);
    const mine = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false,
      ["deriveBits"]);
    const shared = await subtle.deriveBits({ name: "ECDH", public: host }, mine.privateKey, 256);
    const hkdf = await subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
    const key = await subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0),
        info: new TextEncoder().encode("clinician-console waiting room v1") },
      hkdf, { name: "AES-GCM", length: 256 }, false, ["encrypt"]);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const plain = new TextEncoder().encode(JSON.stringify({ t: token, n: name }));
    const sealed = await subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: new TextEncoder().encode("room:" + room) },
      key, plain);
    const point = await subtle.exportKey("raw", mine.publicKey);
    const blob = new Uint8Array(point.byteLength + iv.byteLength + sealed.byteLength);
    blob.set(new Uint8Array(point), 0);
    blob.set(iv, point.byteLength);
    blob.set(new Uint8Array(sealed), point.byteLength + iv.byteLength);
    return "v1." + b64url(blob);
  }

  // The main-room id follows from the token (media/visit/session.py participant_id_for).
  const participantId = parseInt(token.slice(0, 12), 16) || 1;

  let janus = null;
  let localStream = null;
  let stethoscopeTrack = null;
  let publisher = null;
  let privateId = 0;
  const subscribers = {};

  function setStatus(text, isError) {
    $("status").textContent = text;
    $("status").classList.toggle("error", !!isError);
  }
  function fail(text) {
    state.phase = "error";
    state.error = text;
    setStatus(text, true);
  }
  function end(text) {
    state.phase = "ended";
    setStatus(text);
    Object.keys(subscribers).forEach(unsubscribe);  // "Join again" subscribes afresh
    if (janus) { janus.destroy({ cleanupHandles: true }); janus = null; }
  }

  // --- devices -----------------------------------------------------------------------

  async function openDevices() {
    const cam = $("camera").value;
    const mic = $("microphone").value;
    const constraints = {
      video: Object.assign({ width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
        cam ? { deviceId: { exact: cam } } : {}),
      audio: mic ? { deviceId: { exact: mic } } : true,
    };
    if (localStream) localStream.getTracks().forEach((t) => t.stop());
    localStream = await navigator.mediaDevices.getUserMedia(constraints);
    $("self").srcObject = localStream;
    showCameraInfo();
    meterMicrophone();
  }

  // --- the pre-join device check (camera, microphone level, speaker) -----------------

  let audioContext = null;
  let meterTimer = 0;

  function context() {
    if (!audioContext) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return null;
      audioContext = new Ctx();
    }
    return audioContext;
  }
  // Browsers start audio only after the person touches the page: resume on the first
  // touch or key, so the level bar moves as soon as they type their name.
  ["pointerdown", "keydown"].forEach((kind) => document.addEventListener(kind, () => {
    if (audioContext && audioContext.state === "suspended") audioContext.resume();
  }, { passive: true }));

  function showCameraInfo() {
    const track = localStream && localStream.getVideoTracks()[0];
    const s = track ? track.getSettings() : {};
    const text = track
      ? `Camera: working (${s.width || "?"}x${s.height || "?"}` +
        (s.frameRate ? `, ${Math.round(s.frameRate)} frames a second)` : ")")
      : "Camera: none found. The clinician will only hear you.";
    state.check.camera = track ? `${s.width}x${s.height}` : "";
    $("camera-info").textContent = text;
  }

  function meterMicrophone() {
    clearInterval(meterTimer);
    const ctx = context();
    const track = localStream && localStream.getAudioTracks()[0];
    if (!ctx || !track) { $("mic-level").value = 0; return; }
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);  // not to the speakers: no echo of the patient's own voice
    const samples = new Float32Array(analyser.fftSize);
    meterTimer = setInterval(() => {
      if (track.readyState !== "live") { clearInterval(meterTimer); return; }
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      const rms = Math.sqrt(sum / samples.length);
      const level = Math.min(1, rms * 4);  // speech around 0.05-0.2 RMS fills the bar
      $("mic-level").value = level;
      state.check.micPeak = Math.max(state.check.micPeak, level);
    }, 100);
  }

  $("speaker-test").addEventListener("click", async () => {
    const ctx = context();
    if (!ctx) { $("speaker-info").textContent = "This browser cannot play a test sound."; return; }
    await ctx.resume();
    const tone = ctx.createOscillator();
    const gain = ctx.createGain();
    tone.frequency.value = 660;
    gain.gain.setValueAtTime(0.2, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.8);
    tone.connect(gain).connect(ctx.destination);
    tone.start();
    tone.stop(ctx.currentTime + 0.8);
    state.check.speakerPlayed = true;
    $("speaker-info").textContent =
      "Did you hear a beep? If not, turn the volume up or choose other speakers.";
  });

  async function openStethoscope() {
    const id = $("stethoscope").value;
    if (stethoscopeTrack) { stethoscopeTrack.stop(); stethoscopeTrack = null; }
    if (!id) return;
    // A stethoscope is a measurement: no echo cancellation, noise suppression or AGC.
    const s = await navigator.mediaDevices.getUserMedia({ audio: {
      deviceId: { exact: id }, echoCancellation: false, noiseSuppression: false,
      autoGainControl: false, channelCount: 1 } });
    stethoscopeTrack = s.getAudioTracks()[0];
  }

  async function listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const [select, kind] of [["camera", "videoinput"], ["microphone", "audioinput"],
      ["stethoscope", "audioinput"]]) {
      const el = $(select);
      const keep = select === "stethoscope" ? [el.options[0]] : [];
      el.replaceChildren(...keep);
      devices.filter((d) => d.kind === kind).forEach((d, i) => {
        const option = document.createElement("option");
        option.value = d.deviceId;
        option.textContent = d.label || `${kind} ${i + 1}`;
        el.appendChild(option);
      });
    }
  }

  // --- Janus -------------------------------------------------------------------------

  function attach(onmessage, extra) {
    return new Promise((resolve, reject) => {
      janus.attach(Object.assign({
        plugin: "janus.plugin.videoroom",
        success: resolve,
        error: (e) => reject(new Error(String(e))),
        onmessage: (msg, jsep) => onmessage(msg, jsep),
      }, extra || {}));
    });
  }

  function send(handle, message, jsep) {
    return new Promise((resolve, reject) => {
      handle.send({ message, jsep, success: resolve, error: (e) => reject(new Error(String(e))) });
    });
  }

  function explain(msg) {
    const code = msg.error_code;
    if (code === 433) return msg.error && /pin/i.test(msg.error)
      ? "This link is not valid any more (wrong PIN). Ask the clinic for a new link."
      : "The clinician did not let you in. You may close this page.";
    if (code === 426) return "This visit has ended or has not started yet.";
    return "The visit could not continue (" + (msg.error || "error " + code) + ").";
  }

  async function enterWaitingRoom(name) {
    state.phase = "waiting";
    setStatus("Please wait: the clinician will let you in shortly. Keep this page open.");
    let lobby = null;
    lobby = await attach((msg) => {
      if (msg.error_code) { fail(explain(msg)); return; }
      if (msg.leaving === "ok" && msg.reason === "kicked") {
        // Admitted (or turned away): the main room tells which.
        lobby.detach();
        joinMainRoom(name).catch((e) => fail("Could not join: " + e.message));
      } else if (msg.videoroom === "destroyed") {
        end("The visit has ended.");
      }
    });
    await send(lobby, { request: "join", ptype: "publisher", room: room + 1, pin,
      display: await sealRequest(name) });
  }

  async function joinMainRoom(name) {
    state.phase = "joining";
    setStatus("Joining the visit…");
    publisher = await attach(onPublisherMessage, {
      iceState: (s) => { state.ice = s; watchIce("publisher", s, restartPublisher); },
    });
    // Sealed here too: Janus lists any room's participants to whoever asks, PIN or not.
    await send(publisher, { request: "join", ptype: "publisher", room, pin, token,
      id: participantId, display: await sealRequest(name) });
  }

  function onPublisherMessage(msg, jsep) {
    if (msg.error_code) { fail(explain(msg)); return; }
    if (msg.videoroom === "joined") {
      privateId = msg.private_id;
      publish();
      (msg.publishers || []).forEach(subscribe);
    } else if (msg.videoroom === "event") {
      (msg.publishers || []).forEach(subscribe);
      const gone = msg.leaving || msg.unpublished || msg.kicked;
      if (gone === "ok" && msg.reason === "kicked") { end("The clinician ended your part of the visit."); return; }
      if (typeof gone === "number") unsubscribe(gone);
    } else if (msg.videoroom === "destroyed") {
      end("The visit has ended. Thank you.");
    }
    if (jsep) {
      jsep = { type: jsep.type, sdp: withRampHints(jsep.sdp) };
      publisher.handleRemoteJsep({ jsep });
    }
  }

  // Chromium seeds its bandwidth estimate from x-google-* hints in the *remote*
  // description; without them it starts at ~300 kbit/s and sends 320x180 for seconds
  // (see media/rtc/browser_ramp.py, the console's version of the same edit).
  const RAMP = "x-google-start-bitrate=1500;x-google-min-bitrate=800;x-google-max-bitrate=2500";
  function withRampHints(sdp) {
    const nl = sdp.includes("\r\n") ? "\r\n" : "\n";
    const lines = sdp.split(nl);
    const video = new Set();
    for (const line of lines) {
      const m = /^a=rtpmap:(\d+) (VP8|H264)\//i.exec(line);
      if (m) video.add(m[1]);
    }
    const seen = new Set();
    const out = [];
    for (const line of lines) {
      const f = /^a=fmtp:(\d+) ?(.*)$/.exec(line);
      if (f && video.has(f[1])) {
        const kept = f[2].split(";").filter((p) => p.trim() && !/^x-google-/.test(p.trim()));
        out.push(`a=fmtp:${f[1]} ${kept.concat(RAMP).join(";")}`);
        seen.add(f[1]);
        continue;
      }
      out.push(line);
      const r = /^a=rtpmap:(\d+) /.exec(line);
      if (r && video.has(r[1]) && !lines.some((l) => l.startsWith(`a=fmtp:${r[1]} `))) {
        out.push(`a=fmtp:${r[1]} ${RAMP}`);
        seen.add(r[1]);
      }
    }
    return out.join(nl);
  }

  function publish() {
    // Keep the resolution and give up frame rate first when CPU or bandwidth is short:
    // a clinician reading a rash needs pixels more than smooth motion.
    const camera = localStream.getVideoTracks()[0];
    if ("contentHint" in camera) camera.contentHint = "detail";
    const tracks = [
      { type: "audio", capture: localStream.getAudioTracks()[0], recv: false },
      { type: "video", capture: localStream.getVideoTracks()[0], recv: false },
    ];
    if (stethoscopeTrack) tracks.push({ type: "audio", capture: stethoscopeTrack, recv: false });
    publisher.createOffer({
      tracks,
      success: (jsep) => {
        send(publisher, { request: "publish", display: undefined }, jsep)
          .then(() => { state.published = true; })
          .catch((e) => fail("Could not send your video: " + e.message));
      },
      error: (e) => fail("Could not send your video: " + e),
    });
    state.phase = "in_call";
    setStatus("You are in the visit.");
    $("setup").hidden = true;
    $("call").hidden = false;
    $("call").appendChild($("self"));
  }

  async function subscribe(pub) {
    const feed = pub.id;
    if (subscribers[feed]) return;
    const entry = { tracks: 0, width: 0, height: 0, stamps: 0, lastCounter: -1, audio: 0 };
    state.remotes[feed] = entry;
    const video = document.createElement("video");
    video.autoplay = true; video.playsInline = true; video.dataset.feed = feed;
    const audioEl = document.createElement("audio");
    audioEl.autoplay = true;
    const stream = new MediaStream();
    video.srcObject = stream; audioEl.srcObject = stream;
    $("remotes").append(video, audioEl);
    let handle = null;
    handle = await attach((msg, jsep) => {
      if (msg.error_code) { fail(explain(msg)); return; }
      if (jsep) {
        handle.createAnswer({
          jsep, tracks: [{ type: "data" }],
          success: (answer) => send(handle, { request: "start" }, answer).catch(() => {}),
          error: (e) => fail("Could not receive video: " + e),
        });
      }
    }, {
      iceState: (s) => watchIce(feed, s, () =>
        send(handle, { request: "configure", restart: true }).catch(() => {})),
      onremotetrack: (track, mid, on) => {
        if (on) { stream.addTrack(track); entry.tracks += 1; if (track.kind === "audio") entry.audio += 1; }
        else stream.removeTrack(track);
      },
    });
    subscribers[feed] = { handle, video, audioEl };
    send(handle, { request: "join", ptype: "subscriber", room, pin, token, private_id: privateId,
      streams: [{ feed }] }).catch((e) => fail("Could not receive video: " + e.message));
    readStamps(feed, video, entry);
  }

  function unsubscribe(feed) {
    const sub = subscribers[feed];
    if (!sub) return;
    sub.handle.detach();
    sub.video.remove(); sub.audioEl.remove();
    delete subscribers[feed];
    delete state.remotes[feed];
  }

  // --- reconnection: ICE restart through Janus when a path goes away -----------------

  const iceTimers = {};
  state.reconnects = 0;
  function watchIce(key, ice, restart) {
    if (ice === "disconnected" || ice === "failed") {
      if (iceTimers[key]) return;
      if (state.phase === "in_call") setStatus("Connection lost: reconnecting…");
      state.reconnecting = true;
      // Chromium may still recover a "disconnected" path by itself; restart if it has not
      // within 2 s, then keep trying every 4 s until the link is back.
      iceTimers[key] = setTimeout(function again() {
        restart();
        iceTimers[key] = setTimeout(again, 4000);
      }, 2000);
    } else if (ice === "connected" || ice === "completed") {
      if (!iceTimers[key]) return;
      clearTimeout(iceTimers[key]);
      delete iceTimers[key];
      state.reconnects += 1;
      if (!Object.keys(iceTimers).length) {
        state.reconnecting = false;
        if (state.phase === "in_call") setStatus("You are in the visit.");
      }
    }
  }

  function restartPublisher() {
    publisher.createOffer({
      iceRestart: true,
      success: (jsep) => send(publisher, { request: "configure" }, jsep).catch(() => {}),
      error: () => {},
    });
  }

  // --- the console's frame barcode (media/framestamp.py), read back for tests ---------

  function crc16(bytes) {
    let crc = 0xffff;
    for (const b of bytes) {
      crc ^= b << 8;
      for (let i = 0; i < 8; i++) crc = (crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1) & 0xffff;
    }
    return crc;
  }

  function readStamp(ctx, width) {
    const block = Math.max(16, Math.floor(width / 40)); // media/framestamp.py block_px()
    const img = ctx.getImageData(0, 0, 16 * block, 6 * block).data;
    const bytes = new Uint8Array(12);
    const inset = Math.floor(block / 4);
    for (let bit = 0; bit < 96; bit++) {
      const row = Math.floor(bit / 16), col = bit % 16;
      let sum = 0, n = 0;
      for (let y = row * block + inset; y < (row + 1) * block - inset; y++) {
        for (let x = col * block + inset; x < (col + 1) * block - inset; x++) {
          const i = (y * 16 * block + x) * 4;
          sum += (img[i] + img[i + 1] + img[i + 2]) / 3; n++;
        }
      }
      if (sum / n > 125.5) bytes[bit >> 3] |= 0x80 >> (bit & 7);
    }
    if (crc16(bytes.subarray(0, 10)) !== ((bytes[10] << 8) | bytes[11])) return -1;
    return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  }

  function readStamps(feed, video, entry) {
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const onFrame = () => {
      if (!subscribers[feed]) return;
      if (video.videoWidth) {
        entry.width = video.videoWidth; entry.height = video.videoHeight;
        canvas.width = video.videoWidth; canvas.height = video.videoHeight;
        ctx.drawImage(video, 0, 0);
        const counter = readStamp(ctx, video.videoWidth);
        if (counter >= 0 && counter !== entry.lastCounter) { entry.stamps += 1; entry.lastCounter = counter; }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  // --- page wiring -------------------------------------------------------------------

  $("mute").addEventListener("click", () => {
    const track = localStream.getAudioTracks()[0];
    track.enabled = !track.enabled;
    $("mute").setAttribute("aria-pressed", String(!track.enabled));
    $("mute").textContent = track.enabled ? "Mute" : "Unmute";
  });
  $("video-off").addEventListener("click", () => {
    const track = localStream.getVideoTracks()[0];
    track.enabled = !track.enabled;
    $("video-off").setAttribute("aria-pressed", String(!track.enabled));
    $("video-off").textContent = track.enabled ? "Camera off" : "Camera on";
  });
  $("leave").addEventListener("click", () => {
    end("You left the visit.");
    $("rejoin").hidden = false;
  });
  // Leaving keeps the admission: the same token lets this tab back in (a patient the
  // clinician removed is refused, the host takes the token back).
  $("rejoin").addEventListener("click", () => {
    $("rejoin").hidden = true;
    connect(() => joinMainRoom(state.name));
  });
  for (const id of ["camera", "microphone"]) {
    $(id).addEventListener("change", () => openDevices().catch((e) => fail("Camera or microphone: " + e.message)));
  }
  $("stethoscope").addEventListener("change", () => openStethoscope().catch((e) => fail("Stethoscope: " + e.message)));

  $("join").addEventListener("click", () => {
    const name = $("name").value.trim();
    if (!name) { setStatus("Please enter your name.", true); return; }
    $("join").disabled = true;
    state.name = name;
    connect(() => enterWaitingRoom(name));
  });

  function connect(then) {
    // janus.js reads browser details from webrtc-adapter; Chromium needs no shim, so we
    // hand it the two fields it looks at instead of loading adapter.js.
    const adapter = { browserDetails: { browser: "chrome", version: 120 } };
    Janus.init({
      debug: false,
      dependencies: Janus.useDefaultDependencies({ adapter }),
      callback: () => {
        janus = new Janus({
          server,
          iceServers: [],
          success: () => then().catch((e) => fail("Could not join: " + e.message)),
          error: (e) => { if (state.phase !== "ended") fail("The visit server cannot be reached (" + e + ")."); },
          destroyed: () => {},
        });
      },
    });
  }

  async function start() {
    if (!server || !Number.isInteger(room) || !pin || !hostKey) {
      fail("This link is incomplete. Please use the link the clinic sent you.");
      return;
    }
    if (!mediaServers.includes(server)) {
      // The CSP would stop the connection too; say why instead of "cannot be reached".
      fail("This link names a visit server this page does not use. Please use the link " +
        "the clinic sent you, or call the clinic.");
      return;
    }
    try {
      await openDevices();
      await listDevices();
    } catch (e) {
      fail("Please allow the camera and microphone, then reload the page (" + e.name + ").");
      return;
    }
    state.phase = "ready";
    setStatus("Enter your name and join when you are ready.");
    $("join").disabled = false;
  }
  start();
})();
