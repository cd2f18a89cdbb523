/* The patient join page: plain JS on janus.js (libjs-janus-gateway), no build step.
 *
 * The link's fragment carries server, room, pin and the host's public key (never sent
 * to the web server); steth=1 when the clinic wants a stethoscope input. Once read, the
 * PIN leaves the address bar and the history entry (history.replaceState) and stays in
 * sessionStorage for this tab only, so a reload or "Join again" still works. The server
 * must be one of this page's media servers (<meta name="cc-media-servers">, generated
 * with the CSP by make_page.py). Without a link the page asks for the visit number and
 * PIN and uses its first media server; the host's key then comes from the waiting
 * room's description, which only the clinician's console can set.
 *
 * Flow: camera + microphone (self-view; microphone only if there is no camera or the
 * patient prefers), name, then the visit's waiting room (room + 1), publishing nothing:
 * the patient sees and hears nobody. The display there is {token, name} sealed to the
 * host's key (sealRequest; media/visit/sealed.py is the other end), so other people
 * waiting learn nothing. The clinician admits by adding the token to the main room's
 * allowed list and kicking us from the waiting room; then we join the main room with
 * that token (participant id derived from it, so the host can take the token back if
 * it removes us), publish, and subscribe. Every way out (left, ended, removed, refused,
 * server gone) releases the camera and microphone.
 *
 * Before joining, the page asks where the patient is (a country, a state or region, and
 * home / a facility / elsewhere; the codes in places.js, the only ones the console
 * accepts: app/patient_location.py) and sends the answer on its own data channel once
 * admitted, again every 2 s until a console acknowledges it (media/visit/
 * patient_statements.py). The console only pre-fills it for the clinician to confirm.
 *
 * window.ccVisit exposes the state for tests and support (no media, no names);
 * window.ccLiveTracks() counts the camera/microphone tracks still open.
 */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // --- words: English and Spanish -------------------------------------------------------

  const TEXT = {
    en: {
      title: "Video visit", title_waiting: "Waiting… · Video visit",
      title_in: "● You are in your visit", title_ended: "Visit ended",
      heading: "Your video visit", language: "Language",
      checking: "Checking your camera and microphone…",
      code_intro: "Enter the visit number and PIN the clinic gave you.",
      code_room: "Visit number", code_pin: "PIN", code_go: "Continue",
      code_needed: "Please enter the visit number and PIN the clinic gave you.",
      code_bad: "The visit number is the long number the clinic gave you (digits only).",
      blocked_title: "Your browser is blocking the camera or microphone",
      nodevice_title: "No microphone was found",
      nodevice_steps: ["Plug in a headset or microphone, or close other programs that use it (another video call).",
        "Then press Try again."],
      try_again: "Try again",
      self_view: "Your camera", check_label: "Check your camera, microphone and speaker",
      camera_checking: "Camera: checking…",
      camera_ok: "Camera: working ({w}x{h}{rate})", camera_rate: ", {fps} frames a second",
      camera_none: "No camera: the clinician will hear you but not see you.",
      camera_skipped: "Camera off: the clinician will hear you but not see you.",
      camera_blocked: "Your browser blocks the camera: the clinician will hear you but not see you. To use it, allow the camera for this site and reload the page.",
      mic_meter: "Microphone: speak and watch the bar move", mic_level: "Microphone level",
      speaker_test: "Play a test sound",
      speaker_heard: "Did you hear a beep? If not, turn the volume up or choose other speakers.",
      speaker_none: "This browser cannot play a test sound.",
      your_name: "Your name", camera: "Camera", microphone: "Microphone",
      stethoscope: "Stethoscope (the clinic asked you to connect one)", none: "none",
      join: "Join the visit", join_audio: "Join without camera", cancel: "Leave the waiting room",
      ready: "Enter your name and join when you are ready.",
      ready_audio: "You can join with sound only. Enter your name and join when you are ready.",
      name_needed: "Please enter your name.",
      waiting: "Please wait: the clinician will let you in shortly. Keep this page open.",
      early: "Your visit has not started yet. This page keeps trying by itself: keep it open.",
      joining: "Joining the visit…", in_call: "You are in the visit.",
      reconnecting: "Connection lost: reconnecting…",
      away: "Your clinician's connection dropped. Please stay on this page: they will be back shortly.",
      away_box: "Waiting for your clinician to reconnect…",
      call_label: "The visit", controls: "Call controls",
      mute: "Mute", unmute: "Unmute", camera_off: "Camera off", camera_on: "Camera on", leave: "Leave",
      mute_label: "Turn your microphone off", unmute_label: "Turn your microphone on",
      camera_off_label: "Turn your camera off", camera_on_label: "Turn your camera on",
      leave_label: "Leave the visit",
      left_title: "You left the visit", left_detail: "Your camera and microphone are off. You can join again if you left by mistake.",
      ended_title: "The visit has ended", ended_detail: "Thank you. Your camera and microphone are off; you may close this page.",
      removed_title: "The clinician ended your part of the visit", removed_detail: "Your camera and microphone are off; you may close this page.",
      error_title: "Something went wrong", rejoin: "Join again",
      refused_title: "You were not let in", pin_wrong_title: "This link or PIN does not work",
      unreachable_title: "The visit cannot be reached", link_title: "This link does not work",
      link_incomplete: "This link is incomplete. Please use the link the clinic sent you.",
      link_server: "This link names a visit server this page does not use. Please use the link the clinic sent you, or call the clinic.",
      pin_wrong: "This link or PIN is not valid any more. Check the PIN, or ask the clinic for a new link.",
      refused: "The clinician did not let you in. You may close this page.",
      unreachable: "The visit server cannot be reached. Check your internet connection, then try again.",
      failed: "The visit could not continue. Please try again, or call the clinic.",
      no_key: "This visit cannot be joined with a number and PIN. Please use the link the clinic sent you.",
      device_failed: "Your camera or microphone stopped working. Check it, then try again.",
      place_title: "Where are you right now?",
      place_why: "Your clinician needs to know where you are today. They will check it with you.",
      place_country: "Country", place_region: "State, province or region", place_setting: "You are",
      place_choose: "Choose…",
      setting_home: "At home", setting_facility: "At a clinic, hospital or care home",
      setting_elsewhere: "Somewhere else",
    },
    es: {
      title: "Consulta por video", title_waiting: "Esperando… · Consulta por video",
      title_in: "● Está en su consulta", title_ended: "Consulta terminada",
      heading: "Su consulta por video", language: "Idioma",
      checking: "Comprobando su cámara y micrófono…",
      code_intro: "Escriba el número de consulta y el PIN que le dio la clínica.",
      code_room: "Número de consulta", code_pin: "PIN", code_go: "Continuar",
      code_needed: "Escriba el número de consulta y el PIN que le dio la clínica.",
      code_bad: "El número de consulta es el número largo que le dio la clínica (solo dígitos).",
      blocked_title: "Su navegador está bloqueando la cámara o el micrófono",
      nodevice_title: "No se encontró ningún micrófono",
      nodevice_steps: ["Conecte unos auriculares o un micrófono, o cierre otros programas que lo usen (otra videollamada).",
        "Después pulse Intentar de nuevo."],
      try_again: "Intentar de nuevo",
      self_view: "Su cámara", check_label: "Compruebe su cámara, micrófono y altavoz",
      camera_checking: "Cámara: comprobando…",
      camera_ok: "Cámara: funciona ({w}x{h}{rate})", camera_rate: ", {fps} imágenes por segundo",
      camera_none: "Sin cámara: el personal clínico le oirá, pero no le verá.",
      camera_skipped: "Cámara apagada: el personal clínico le oirá, pero no le verá.",
      camera_blocked: "Su navegador bloquea la cámara: el personal clínico le oirá, pero no le verá. Para usarla, permita la cámara para este sitio y vuelva a cargar la página.",
      mic_meter: "Micrófono: hable y mire cómo se mueve la barra", mic_level: "Nivel del micrófono",
      speaker_test: "Reproducir un sonido de prueba",
      speaker_heard: "¿Oyó un pitido? Si no, suba el volumen o elija otros altavoces.",
      speaker_none: "Este navegador no puede reproducir un sonido de prueba.",
      your_name: "Su nombre", camera: "Cámara", microphone: "Micrófono",
      stethoscope: "Estetoscopio (la clínica le pidió conectar uno)", none: "ninguno",
      join: "Entrar a la consulta", join_audio: "Entrar sin cámara", cancel: "Salir de la sala de espera",
      ready: "Escriba su nombre y entre cuando esté listo.",
      ready_audio: "Puede entrar solo con sonido. Escriba su nombre y entre cuando esté listo.",
      name_needed: "Escriba su nombre, por favor.",
      waiting: "Espere, por favor: el personal clínico le dará paso en breve. Mantenga esta página abierta.",
      early: "Su consulta aún no ha comenzado. Esta página lo vuelve a intentar sola: manténgala abierta.",
      joining: "Entrando a la consulta…", in_call: "Está en la consulta.",
      reconnecting: "Se perdió la conexión: reconectando…",
      away: "Se cortó la conexión de su profesional clínico. Quédese en esta página: volverá en breve.",
      away_box: "Esperando a que su profesional clínico vuelva a conectarse…",
      call_label: "La consulta", controls: "Controles de la llamada",
      mute: "Silenciar", unmute: "Activar sonido", camera_off: "Apagar cámara", camera_on: "Encender cámara", leave: "Salir",
      mute_label: "Apagar su micrófono", unmute_label: "Encender su micrófono",
      camera_off_label: "Apagar su cámara", camera_on_label: "Encender su cámara",
      leave_label: "Salir de la consulta",
      left_title: "Salió de la consulta", left_detail: "Su cámara y micrófono están apagados. Puede volver a entrar si salió por error.",
      ended_title: "La consulta ha terminado", ended_detail: "Gracias. Su cámara y micrófono están apagados; puede cerrar esta página.",
      removed_title: "El personal clínico terminó su parte de la consulta", removed_detail: "Su cámara y micrófono están apagados; puede cerrar esta página.",
      error_title: "Algo salió mal", rejoin: "Volver a entrar",
      refused_title: "No se le dio paso", pin_wrong_title: "Este enlace o PIN no funciona",
      unreachable_title: "No se puede conectar con la consulta", link_title: "Este enlace no funciona",
      link_incomplete: "Este enlace está incompleto. Use el enlace que le envió la clínica.",
      link_server: "Este enlace indica un servidor de consultas que esta página no usa. Use el enlace que le envió la clínica o llame a la clínica.",
      pin_wrong: "Este enlace o PIN ya no es válido. Revise el PIN o pida un enlace nuevo a la clínica.",
      refused: "El personal clínico no le dio paso. Puede cerrar esta página.",
      unreachable: "No se puede conectar con el servidor de consultas. Revise su conexión a internet e inténtelo de nuevo.",
      failed: "La consulta no pudo continuar. Inténtelo de nuevo o llame a la clínica.",
      no_key: "No se puede entrar a esta consulta con un número y un PIN. Use el enlace que le envió la clínica.",
      device_failed: "Su cámara o micrófono dejó de funcionar. Revíselo e inténtelo de nuevo.",
      place_title: "¿Dónde está usted ahora mismo?",
      place_why: "Su profesional clínico necesita saber dónde está hoy. Lo comprobará con usted.",
      place_country: "País", place_region: "Estado, provincia o región", place_setting: "Está",
      place_choose: "Elija…",
      setting_home: "En casa", setting_facility: "En una clínica, un hospital o una residencia",
      setting_elsewhere: "En otro lugar",
    },
  };

  // How to unblock the camera and microphone, per browser (docs/patient-page.md).
  const UNBLOCK = {
    en: {
      chrome: ["Click the camera icon (or the icon left of the address) in the address bar.",
        "Choose “Always allow” for the camera and microphone, then Done.", "Press Try again below."],
      edge: ["Click the lock or camera icon in the address bar.",
        "Set Camera and Microphone to “Allow”.", "Press Try again below."],
      firefox: ["Click the crossed-out camera or microphone icon in the address bar.",
        "Remove the “Blocked” permissions (the ×).", "Press Try again below and choose Allow."],
      safari_ios: ["Tap “aA” in the address bar, then Website Settings.",
        "Set Camera and Microphone to “Allow”.", "Press Try again below."],
      safari: ["Open Safari > Settings for This Website (in the menu bar).",
        "Set Camera and Microphone to “Allow”.", "Press Try again below."],
      chrome_android: ["Tap the icon left of the address, then Permissions.",
        "Turn on Camera and Microphone.", "Press Try again below."],
      other: ["Open this site's settings in your browser (often the icon left of the address).",
        "Allow the camera and microphone.", "Press Try again below."],
    },
    es: {
      chrome: ["Haga clic en el icono de cámara (o el icono a la izquierda de la dirección) en la barra de direcciones.",
        "Elija «Permitir siempre» para la cámara y el micrófono y luego Listo.", "Pulse Intentar de nuevo, abajo."],
      edge: ["Haga clic en el candado o en el icono de cámara de la barra de direcciones.",
        "Ponga Cámara y Micrófono en «Permitir».", "Pulse Intentar de nuevo, abajo."],
      firefox: ["Haga clic en el icono tachado de cámara o micrófono en la barra de direcciones.",
        "Quite los permisos «Bloqueado» (la ×).", "Pulse Intentar de nuevo, abajo, y elija Permitir."],
      safari_ios: ["Toque «aA» en la barra de direcciones y luego Ajustes del sitio web.",
        "Ponga Cámara y Micrófono en «Permitir».", "Pulse Intentar de nuevo, abajo."],
      safari: ["Abra Safari > Ajustes para este sitio web (en la barra de menús).",
        "Ponga Cámara y Micrófono en «Permitir».", "Pulse Intentar de nuevo, abajo."],
      chrome_android: ["Toque el icono a la izquierda de la dirección y luego Permisos.",
        "Active Cámara y Micrófono.", "Pulse Intentar de nuevo, abajo."],
      other: ["Abra los ajustes de este sitio en su navegador (suele ser el icono a la izquierda de la dirección).",
        "Permita la cámara y el micrófono.", "Pulse Intentar de nuevo, abajo."],
    },
  };

  function browserKind() {
    const ua = navigator.userAgent;
    if (/iPhone|iPad|iPod/.test(ua)) return "safari_ios";
    if (/Edg\//.test(ua)) return "edge";
    if (/Firefox\//.test(ua)) return "firefox";
    if (/Android/.test(ua) && /Chrome\//.test(ua)) return "chrome_android";
    if (/Chrome\/|Chromium\//.test(ua)) return "chrome";
    if (/Safari\//.test(ua)) return "safari";
    return "other";
  }

  function pickLanguage() {
    const chosen = sessionStorage.getItem("ccVisit:lang");
    if (chosen && TEXT[chosen]) return chosen;
    for (const tag of navigator.languages || [navigator.language || "en"]) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (TEXT[base]) return base;
    }
    return "en";
  }
  let lang = pickLanguage();

  function t(key, values) {
    const text = TEXT[lang][key] !== undefined ? TEXT[lang][key] : TEXT.en[key];
    if (typeof text !== "string") return text;
    return text.replace(/\{(\w+)\}/g, (_, name) => (values && name in values ? values[name] : ""));
  }

  // The status line and the ended screen remember their message key, so switching
  // language re-says them rather than leaving the old language on screen.
  let statusKey = ["checking", null, false];
  let titleKey = "title";

  function applyLanguage() {
    document.documentElement.lang = lang;
    $("language").value = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-aria]").forEach((el) => {
      el.setAttribute("aria-label", t(el.dataset.i18nAria));
    });
    setStatus(...statusKey);
    document.title = t(titleKey);
    if (localStream) showCameraInfo();
    if (state.check.speakerPlayed) $("speaker-info").textContent = t("speaker_heard");
    if (state.phase === "blocked") showBlocked(state.blockedKind);
    if (state.phase === "ended" || state.phase === "error") showEnded();
    fillPlaces();
    syncControls();
  }
  $("language").addEventListener("change", () => {
    lang = TEXT[$("language").value] ? $("language").value : "en";
    sessionStorage.setItem("ccVisit:lang", lang);
    state.lang = lang;
    applyLanguage();
  });

  // --- the link ---------------------------------------------------------------------------

  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const mediaServers = (() => {
    const meta = document.querySelector('meta[name="cc-media-servers"]');
    try { return meta ? JSON.parse(meta.content) : []; } catch (e) { return []; }
  })();
  let server = params.get("server");
  let room = parseInt(params.get("room") || "", 10);
  let hostKey = params.get("key") || "";
  const wantsStethoscope = params.get("steth") === "1";
  let saved = "";
  let pin = "";
  let token = "";

  function remember() {
    saved = "ccVisit:" + room + ":" + server;  // this tab's PIN and token for this visit
    let stored = {};
    try { stored = JSON.parse(sessionStorage.getItem(saved) || "{}"); } catch (e) { stored = {}; }
    pin = pin || stored.pin || "";
    hostKey = hostKey || stored.key || "";
    // Same token for the tab's life: a patient who left may come back in with it.
    token = stored.token || Array.from(crypto.getRandomValues(new Uint8Array(16)),
      (b) => b.toString(16).padStart(2, "0")).join("");
    if (pin) sessionStorage.setItem(saved, JSON.stringify({ pin, token, key: hostKey }));
  }
  pin = params.get("pin") || "";
  if (server || params.has("room")) remember();
  if (params.has("pin")) {
    params.delete("pin");  // out of the address bar and of this history entry
    history.replaceState(null, "", location.pathname + location.search + "#" + params.toString());
  }

  const state = {
    // starting | code | blocked | ready | early | waiting | joining | in_call | ended | error
    phase: "starting",
    error: "",
    ended: "",          // left | ended | removed (phase "ended")
    lang,
    remotes: {},        // feed id -> {tracks, width, height, stamps, lastCounter, audio}
    published: false,
    audioOnly: false,   // joining (or joined) without a camera
    clinicianAway: false,
    drops: 0,           // times the clinician's console dropped out of the call
    admittedAt: 0,      // Date.now() when the main room let us in
    chimes: 0,          // admission sounds played
    retries: 0,         // waiting-room attempts while the visit had not started
    stethoscope: wantsStethoscope,
    blockedKind: "",
    check: { camera: "", micPeak: 0, speakerPlayed: false },  // the pre-join device check
    place: null,        // {country, region, setting} as the patient stated it (codes only)
    placeSent: 0,       // times sent on this page's data channel
    placeAck: "",       // "ok" | "rejected": a console's answer
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
  const participantId = () => parseInt(token.slice(0, 12), 16) || 1;

  let janus = null;
  let localStream = null;
  let stethoscopeTrack = null;
  let publisher = null;
  let privateId = 0;
  let retryTimer = 0;
  let patientName = "";
  const subscribers = {};
  const opened = [];  // every camera/microphone track this page opened

  window.ccLiveTracks = () => opened.filter((track) => track.readyState === "live").length;

  function setStatus(key, values, isError) {
    statusKey = [key, values || null, !!isError];
    $("status").textContent = t(key, values);
    $("status").classList.toggle("error", !!isError);
  }
  function setTitle(key) { titleKey = key; document.title = t(key); }

  function show(...ids) {
    for (const id of ["code", "blocked", "setup", "call", "ended", "controls"]) $(id).hidden = !ids.includes(id);
    // The language can be changed on the screens before the call.
    $("language-box").hidden = ids.includes("call");
    // These panels say it all themselves (and are live regions): no status line twice.
    $("status").hidden = ids.includes("ended") || ids.includes("blocked");
    document.body.classList.toggle("in-call", ids.includes("call"));
  }

  // Every way out ends here: no camera light after the visit, a refusal or an error.
  function release() {
    clearInterval(meterTimer);
    clearTimeout(retryTimer);
    for (const track of opened) track.stop();
    localStream = null;
    stethoscopeTrack = null;
    $("self").srcObject = null;
    $("mic-level").value = 0;
  }
  function hangUpJanus() {
    clearInterval(stallTimer);
    Object.keys(subscribers).forEach(unsubscribe);
    Object.keys(iceTimers).forEach((key) => { clearTimeout(iceTimers[key]); delete iceTimers[key]; });
    const old = janus;
    janus = null;
    publisher = null;
    if (old) old.destroy({ cleanupHandles: true });
  }

  function fail(key, rejoin) {
    state.phase = "error";
    state.error = t(key);
    state.errorKey = key;
    state.canRejoin = !!rejoin;
    hangUpJanus();
    release();
    setStatus(key, null, true);
    setTitle("title");
    showEnded();
  }
  function end(kind) {
    state.phase = "ended";
    state.ended = kind;
    state.clinicianAway = false;
    hangUpJanus();
    release();
    setStatus(kind + "_title");
    setTitle(kind === "left" ? "title" : "title_ended");
    showEnded();
  }
  function showEnded() {
    show("ended");
    const error = state.phase === "error";
    // An error's own heading where it has one ("You were not let in" is no malfunction).
    const heading = { refused: "refused_title", pin_wrong: "pin_wrong_title",
      unreachable: "unreachable_title", link_incomplete: "link_title", link_server: "link_title",
      no_key: "link_title" }[state.errorKey] || "error_title";
    $("ended-title").textContent = t(error ? heading : state.ended + "_title");
    $("ended-detail").textContent = error ? t(state.errorKey) : t(state.ended + "_detail");
    // Rejoin where it can help: after leaving, or when the clinician may open the visit
    // again; "Try again" starts the page afresh after an error before the call.
    $("rejoin").hidden = error ? !state.canRejoin : state.ended === "removed";
    $("reload").hidden = !error || state.canRejoin;
    // Keyboard and screen-reader users land on what they can do next.
    const next = [$("rejoin"), $("reload")].find((b) => !b.hidden);
    if (next) next.focus();
  }

  // --- devices -----------------------------------------------------------------------

  async function getMedia(constraints) {
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    stream.getTracks().forEach((track) => opened.push(track));
    return stream;
  }

  async function openDevices() {
    const cam = $("camera").value;
    const mic = $("microphone").value;
    const audio = mic ? { deviceId: { exact: mic } } : true;
    const video = Object.assign({ width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
      cam ? { deviceId: { exact: cam } } : {});
    if (localStream) localStream.getTracks().forEach((track) => track.stop());
    localStream = null;
    if (state.audioOnly) {
      localStream = await getMedia({ audio });
    } else {
      try {
        localStream = await getMedia({ video, audio });
      } catch (e) {
        // No camera, a camera another program holds, or a camera blocked while the
        // microphone is allowed: the patient joins with sound only.
        if (!["NotFoundError", "NotReadableError", "OverconstrainedError", "NotAllowedError",
          "AbortError"].includes(e.name)) throw e;
        localStream = await getMedia({ audio });
        state.audioOnly = true;
        state.noCamera = true;
        state.cameraBlocked = e.name === "NotAllowedError";
      }
    }
    $("self").srcObject = localStream.getVideoTracks().length ? localStream : null;
    $("self").hidden = !localStream.getVideoTracks().length;
    $("camera-box").hidden = !!state.noCamera;
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
    state.check.camera = track ? `${s.width}x${s.height}` : "";
    $("camera-info").textContent = track
      ? t("camera_ok", { w: s.width || "?", h: s.height || "?",
        rate: s.frameRate ? t("camera_rate", { fps: Math.round(s.frameRate) }) : "" })
      : t(state.cameraBlocked ? "camera_blocked" : state.noCamera ? "camera_none" : "camera_skipped");
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

  function beep(ctx, hz, at, length) {
    const tone = ctx.createOscillator();
    const gain = ctx.createGain();
    tone.frequency.value = hz;
    gain.gain.setValueAtTime(0.2, at);
    gain.gain.exponentialRampToValueAtTime(0.001, at + length);
    tone.connect(gain).connect(ctx.destination);
    tone.start(at);
    tone.stop(at + length);
  }

  $("speaker-test").addEventListener("click", async () => {
    const ctx = context();
    if (!ctx) { $("speaker-info").textContent = t("speaker_none"); return; }
    await ctx.resume();
    beep(ctx, 660, ctx.currentTime, 0.8);
    state.check.speakerPlayed = true;
    $("speaker-info").textContent = t("speaker_heard");
  });

  // A patient admitted while looking at another tab: the title says so and a two-note
  // chime sounds (the Join click already allowed the page to play audio).
  function announceAdmission() {
    setTitle("title_in");
    const ctx = context();
    if (!ctx) return;
    ctx.resume().then(() => {
      beep(ctx, 784, ctx.currentTime, 0.35);
      beep(ctx, 1047, ctx.currentTime + 0.3, 0.6);
      state.chimes += 1;
    }).catch(() => {});
  }

  async function openStethoscope() {
    const id = $("stethoscope").value;
    if (stethoscopeTrack) { stethoscopeTrack.stop(); stethoscopeTrack = null; }
    if (!id) return;
    // A stethoscope is a measurement: no echo cancellation, noise suppression or AGC.
    const s = await getMedia({ audio: {
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
        // Labels stay empty until the patient allows the devices: name them plainly.
        option.textContent = d.label || `${t(kind === "videoinput" ? "camera" : "microphone")} ${i + 1}`;
        el.appendChild(option);
      });
    }
    // Select what is open, so the lists tell the truth.
    const open = localStream ? localStream.getTracks() : [];
    for (const track of open) {
      const id = track.getSettings().deviceId;
      const el = $(track.kind === "video" ? "camera" : "microphone");
      if (id && [...el.options].some((o) => o.value === id)) el.value = id;
    }
  }

  function showBlocked(kind) {
    state.phase = "blocked";
    state.blockedKind = kind;
    show("blocked");
    const denied = kind === "denied";
    $("blocked-title").textContent = t(denied ? "blocked_title" : "nodevice_title");
    const steps = denied ? UNBLOCK[lang][browserKind()] : t("nodevice_steps");
    $("blocked-steps").replaceChildren(...steps.map((step) => {
      const li = document.createElement("li");
      li.textContent = step;
      return li;
    }));
    setStatus(denied ? "blocked_title" : "nodevice_title", null, true);
    $("retry-devices").focus();
  }

  async function prepare() {
    state.phase = "starting";
    show();
    setStatus("checking");
    try {
      await openDevices();
      await listDevices();
    } catch (e) {
      release();
      showBlocked(e.name === "NotAllowedError" || e.name === "SecurityError" ? "denied" : "missing");
      return;
    }
    state.phase = "ready";
    show("setup");
    $("stethoscope-box").hidden = !wantsStethoscope;
    setStatus(state.audioOnly ? "ready_audio" : "ready");
    $("join").disabled = false;
    $("join-audio").disabled = false;
    $("join-audio").hidden = !!state.noCamera;
    $("join").querySelector("svg").toggleAttribute("hidden", !!state.noCamera);  // no camera, no camera icon
    // (not on touch screens, where focusing would pop the keyboard over the preview)
    if (!$("name").value && !matchMedia("(pointer: coarse)").matches) $("name").focus();
  }
  $("retry-devices").addEventListener("click", () => {
    state.audioOnly = false; state.noCamera = false; state.cameraBlocked = false;
    prepare();
  });

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
    if (code === 433) return msg.error && /pin/i.test(msg.error) ? "pin_wrong" : "refused";
    if (code === 426) return "ended";
    return "failed";
  }

  // Without the key (a patient who typed the visit number and PIN) the page reads it
  // from the waiting room's description, which only the clinician's console can set:
  // a stranger holding the PIN cannot slip in a key of their own. It joins without a
  // name, reads the "joined" answer and leaves at once.
  async function fetchHostKey() {
    let probe = null;
    const answer = new Promise((resolve) => {
      attach((msg) => resolve(msg)).then((handle) => {
        probe = handle;
        send(handle, { request: "join", ptype: "publisher", room: room + 1, pin })
          .catch((e) => resolve({ error_code: -1, error: String(e) }));
      }).catch((e) => resolve({ error_code: -1, error: String(e) }));
    });
    const msg = await answer;
    if (probe) probe.detach();
    if (msg.error_code) return msg;
    const found = /(?:^|\s)key=([A-Za-z0-9_-]{40,})/.exec(msg.description || "");
    if (!found) return { error_code: -2 };
    hostKey = found[1];
    sessionStorage.setItem(saved, JSON.stringify({ pin, token, key: hostKey }));
    return {};
  }

  // An early patient retries every 5 s, then less often (at most every 30 s), so a tab
  // left open all day does not knock on the server every few seconds.
  const EARLY_RETRY_MS = 5000;
  const EARLY_RETRY_MAX_MS = 30000;

  async function enterWaitingRoom(name) {
    if (!hostKey) {
      const got = await fetchHostKey();
      if (got.error_code === 426) { waitForStart(name); return; }
      if (got.error_code === -2) { fail("no_key"); return; }
      if (got.error_code) { fail(explain(got) === "ended" ? "failed" : explain(got)); return; }
    }
    let lobby = null;
    lobby = await attach((msg) => {
      if (msg.error_code === 426 && !state.admittedAt) {
        // Early: the clinician has not opened the visit yet. Keep trying by ourselves.
        lobby.detach();
        waitForStart(name);
        return;
      }
      if (msg.error_code) { fail(explain(msg) === "ended" ? "failed" : explain(msg)); return; }
      if (msg.videoroom === "joined") {
        state.phase = "waiting";
        setStatus("waiting");
        setTitle("title_waiting");
      } else if (msg.leaving === "ok" && msg.reason === "kicked") {
        // Admitted (or turned away): the main room tells which.
        lobby.detach();
        joinMainRoom(name).catch(() => fail("failed", true));
      } else if (msg.videoroom === "destroyed") {
        end("ended");
      }
    });
    await send(lobby, { request: "join", ptype: "publisher", room: room + 1, pin,
      display: await sealRequest(name) });
  }

  function waitForStart(name) {
    state.phase = "early";
    state.retries += 1;
    setStatus("early");
    setTitle("title_waiting");
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      if (state.phase !== "early" || !janus) return;
      enterWaitingRoom(name).catch(() => waitForStart(name));
    }, Math.min(EARLY_RETRY_MAX_MS, EARLY_RETRY_MS * 1.5 ** (state.retries - 1)));
  }

  async function joinMainRoom(name) {
    state.phase = "joining";
    setStatus("joining");
    publisher = await attach(onPublisherMessage, {
      iceState: (s) => { state.ice = s; watchIce("publisher", s, restartPublisher); },
      ondataopen: () => sendStatement(),
    });
    // Sealed here too: Janus lists any room's participants to whoever asks, PIN or not.
    await send(publisher, { request: "join", ptype: "publisher", room, pin, token,
      id: participantId(), display: await sealRequest(name) });
  }

  function onPublisherMessage(msg, jsep) {
    if (msg.error_code) {
      const why = explain(msg);
      if (why === "ended") end("ended"); else fail(why);
      return;
    }
    if (msg.videoroom === "joined") {
      privateId = msg.private_id;
      state.admittedAt = Date.now();
      announceAdmission();
      publish();
      (msg.publishers || []).forEach(subscribe);
    } else if (msg.videoroom === "event") {
      (msg.publishers || []).forEach(subscribe);
      const gone = msg.leaving || msg.unpublished || msg.kicked;
      if (gone === "ok" && msg.reason === "kicked") { end("removed"); return; }
      if (typeof gone === "number") { unsubscribe(gone); checkAway(); }
    } else if (msg.videoroom === "destroyed") {
      end("ended");
    }
    if (jsep && publisher) {
      jsep = { type: jsep.type, sdp: withRampHints(jsep.sdp) };
      publisher.handleRemoteJsep({ jsep });
    }
  }

  // Nobody left to see or hear in the call: the clinician's console dropped (a closed
  // laptop, a lost network). The room is still there, so the patient should stay.
  // Janus announces a dead console only when its session times out (a minute by
  // default), so a stall counts too: our own path to Janus is up, yet no packet has
  // come from anyone for STALL_MS. (A console with its camera off still sends black
  // frames, and a muted one silence, so a quiet clinician is not a stall.)
  const STALL_MS = 4000;
  let stalled = false;
  let stallTimer = 0;
  let lastPackets = -1;
  let lastPacketAt = 0;

  function checkAway() {
    if (state.phase !== "in_call") return;
    const away = Object.keys(subscribers).length === 0 || stalled;
    if (away === state.clinicianAway) return;
    state.clinicianAway = away;
    if (away) state.drops += 1;
    $("away").hidden = !away;
    if (!state.reconnecting) setStatus(away ? "away" : "in_call");
  }

  async function packetsFromOthers() {
    let total = 0;
    for (const sub of Object.values(subscribers)) {
      const pc = sub.handle && sub.handle.webrtcStuff && sub.handle.webrtcStuff.pc;
      if (!pc) continue;
      (await pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp") total += r.packetsReceived || 0;
      });
    }
    return total;
  }

  function watchStall() {
    clearInterval(stallTimer);
    lastPackets = -1;
    stalled = false;
    stallTimer = setInterval(async () => {
      if (state.phase !== "in_call") { clearInterval(stallTimer); return; }
      const packets = await packetsFromOthers();
      const now = Date.now();
      // (while our own path is down, and just after, the silence is ours, not theirs)
      if (packets !== lastPackets || state.reconnecting) { lastPackets = packets; lastPacketAt = now; }
      // Only when our own side is fine: a dead patient network shows "reconnecting".
      const nowStalled = packets > 0 && !state.reconnecting && now - lastPacketAt > STALL_MS;
      if (nowStalled !== stalled) { stalled = nowStalled; state.stalled = stalled; checkAway(); }
    }, 1000);
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
    const out = [];
    for (const line of lines) {
      const f = /^a=fmtp:(\d+) ?(.*)$/.exec(line);
      if (f && video.has(f[1])) {
        const kept = f[2].split(";").filter((p) => p.trim() && !/^x-google-/.test(p.trim()));
        out.push(`a=fmtp:${f[1]} ${kept.concat(RAMP).join(";")}`);
        continue;
      }
      out.push(line);
      const r = /^a=rtpmap:(\d+) /.exec(line);
      if (r && video.has(r[1]) && !lines.some((l) => l.startsWith(`a=fmtp:${r[1]} `))) {
        out.push(`a=fmtp:${r[1]} ${RAMP}`);
      }
    }
    return out.join(nl);
  }

  function publish() {
    const tracks = [{ type: "audio", capture: localStream.getAudioTracks()[0], recv: false }];
    const camera = localStream.getVideoTracks()[0];
    if (camera) {
      // Keep the resolution and give up frame rate first when CPU or bandwidth is short:
      // a clinician reading a rash needs pixels more than smooth motion.
      if ("contentHint" in camera) camera.contentHint = "detail";
      tracks.push({ type: "video", capture: camera, recv: false });
    }
    if (stethoscopeTrack) tracks.push({ type: "audio", capture: stethoscopeTrack, recv: false });
    if (state.place) tracks.push({ type: "data" });  // where the patient is (sendStatement)
    state.placeAck = "";
    publisher.createOffer({
      tracks,
      success: (jsep) => {
        if (!publisher) return;
        // The stethoscope travels as its own stream labelled "stethoscope" (the label
        // the console's stethoscope panel listens for, media/visit/tracks.py); an
        // unlabelled second audio stream would be taken for the patient's voice.
        const message = { request: "publish" };
        const pc = publisher.webrtcStuff && publisher.webrtcStuff.pc;
        const steth = stethoscopeTrack && pc &&
          pc.getTransceivers().find((tr) => tr.sender.track === stethoscopeTrack);
        if (steth && steth.mid !== null) {
          message.descriptions = [{ mid: steth.mid, description: "stethoscope" }];
          state.stethoscopeMid = steth.mid;
        }
        send(publisher, message, jsep)
          .then(() => { state.published = true; })
          .catch(() => { if (state.phase === "in_call") fail("failed", true); });
      },
      error: () => fail("failed", true),
    });
    state.phase = "in_call";
    state.clinicianAway = false;
    $("away").hidden = true;
    watchStall();
    setStatus("in_call");
    show("call", "controls");
    $("call").appendChild($("self"));
    syncControls();
  }

  async function subscribe(pub) {
    const feed = pub.id;
    if (subscribers[feed]) return;
    const entry = { tracks: 0, width: 0, height: 0, stamps: 0, lastCounter: -1, audio: 0 };
    state.remotes[feed] = entry;
    const video = document.createElement("video");
    video.autoplay = true; video.playsInline = true; video.dataset.feed = feed;
    video.setAttribute("aria-label", t("call_label"));
    const audioEl = document.createElement("audio");
    audioEl.autoplay = true;
    const stream = new MediaStream();
    video.srcObject = stream; audioEl.srcObject = stream;
    $("remotes").append(video, audioEl);
    const sub = { handle: null, video, audioEl };
    subscribers[feed] = sub;
    checkAway();
    sub.handle = await attach((msg, jsep) => {
      if (msg.error_code) { fail(explain(msg) === "ended" ? "failed" : explain(msg), true); return; }
      if (jsep) {
        sub.handle.createAnswer({
          jsep, tracks: [{ type: "data" }],
          success: (answer) => send(sub.handle, { request: "start" }, answer).catch(() => {}),
          error: () => fail("failed", true),
        });
      }
    }, {
      iceState: (s) => watchIce(feed, s, () =>
        send(sub.handle, { request: "configure", restart: true }).catch(() => {})),
      ondata: (data) => onConsoleData(data),
      onremotetrack: (track, mid, on) => {
        if (on) { stream.addTrack(track); entry.tracks += 1; if (track.kind === "audio") entry.audio += 1; }
        else stream.removeTrack(track);
      },
    });
    if (subscribers[feed] !== sub) { sub.handle.detach(); return; }  // gone meanwhile
    send(sub.handle, { request: "join", ptype: "subscriber", room, pin, token, private_id: privateId,
      streams: [{ feed }] }).catch(() => fail("failed", true));
    readStamps(feed, video, entry);
    // A console that (re)appears (restarted, republished) has not heard where the
    // patient is: say it again (a console that already has it ignores a repeat).
    if (state.place && state.placeAck === "ok") { state.placeAck = ""; sendStatement(); }
  }

  function unsubscribe(feed) {
    const sub = subscribers[feed];
    if (!sub) return;
    if (sub.handle) sub.handle.detach();
    sub.video.srcObject = null;  // no frozen last frame
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
      if (state.phase === "in_call") setStatus("reconnecting");
      state.reconnecting = true;
      // Chromium may still recover a "disconnected" path by itself; restart if it has not
      // within 2 s, then keep trying every 4 s until the link is back.
      iceTimers[key] = setTimeout(function again() {
        if (!janus) return;
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
        if (state.phase === "in_call") setStatus(state.clinicianAway ? "away" : "in_call");
      }
    }
  }

  function restartPublisher() {
    if (!publisher) return;
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
      if (subscribers[feed] === undefined || subscribers[feed].video !== video) return;
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

  // --- where the patient is: asked before joining, sent once admitted -----------------

  const PLACES = window.CC_PLACES || { countries: [], regions: {} };
  const SETTINGS = ["home", "facility", "elsewhere"];
  const STATEMENT_EVERY_MS = 2000;
  const STATEMENT_TRIES = 30;
  let statementTimer = 0;

  function option(value, text) {
    const el = document.createElement("option");
    el.value = value;
    el.textContent = text;  // text only: the names come from places.js, never markup
    return el;
  }
  const byName = (a, b) => (a[lang] || a.en).localeCompare(b[lang] || b.en, lang);

  function fillRegions(keep) {
    const list = PLACES.regions[$("place-country").value] || [];
    $("place-region-box").hidden = !list.length;
    $("place-region").replaceChildren(option("", t("place_choose")),
      ...[...list].sort(byName).map((r) => option(r.code, r[lang] || r.en)));
    $("place-region").value = list.some((r) => r.code === keep) ? keep : "";
  }
  function fillPlaces() {
    const keep = [$("place-country").value, $("place-region").value, $("place-setting").value];
    $("place-country").replaceChildren(option("", t("place_choose")),
      ...[...PLACES.countries].sort(byName).map((c) => option(c.code, c[lang] || c.en)));
    $("place-country").value = keep[0];
    fillRegions(keep[1]);
    $("place-setting").replaceChildren(option("", t("place_choose")),
      ...SETTINGS.map((k) => option(k, t("setting_" + k))));
    $("place-setting").value = keep[2];
  }
  $("place-country").addEventListener("change", () => fillRegions(""));

  function readPlace() {
    const country = $("place-country").value;
    if (!country) return null;  // not answered: the clinician asks
    return { country, region: $("place-region").value, setting: $("place-setting").value };
  }

  // On the publisher's data channel (Janus relays it to the console); repeated until a
  // console answers, since Janus drops what arrives before a subscriber's channel is up.
  function sendStatement() {
    clearTimeout(statementTimer);
    if (!state.place || state.placeAck) return;
    const handle = publisher;
    const text = JSON.stringify(Object.assign({ cc: "location", v: 1 }, state.place));
    let tries = 0;
    const again = () => {
      if (publisher !== handle || !handle || state.placeAck || tries >= STATEMENT_TRIES) return;
      tries += 1;
      handle.data({ text, success: () => { state.placeSent += 1; }, error: () => {} });
      statementTimer = setTimeout(again, STATEMENT_EVERY_MS);
    };
    again();
  }
  function onConsoleData(data) {
    if (typeof data !== "string" || data.length > 2000) return;
    let msg = null;
    try { msg = JSON.parse(data); } catch (e) { return; }
    if (!msg || msg.cc !== "location" || msg.op !== "ack" || msg.to !== participantId()) return;
    state.placeAck = msg.ok === true ? "ok" : "rejected";
    clearTimeout(statementTimer);
  }

  // --- page wiring -------------------------------------------------------------------

  function syncControls() {
    const mic = localStream && localStream.getAudioTracks()[0];
    const cam = localStream && localStream.getVideoTracks()[0];
    const muted = !!mic && !mic.enabled;
    const camOff = !cam || !cam.enabled;
    $("mute").setAttribute("aria-pressed", String(muted));
    $("mute").querySelector(".label").textContent = t(muted ? "unmute" : "mute");
    $("mute").setAttribute("aria-label", t(muted ? "unmute_label" : "mute_label"));
    $("video-off").setAttribute("aria-pressed", String(camOff));
    $("video-off").querySelector(".label").textContent = t(camOff ? "camera_on" : "camera_off");
    $("video-off").setAttribute("aria-label", t(camOff ? "camera_on_label" : "camera_off_label"));
    $("video-off").hidden = !cam;  // sound only: no camera button to puzzle over
    $("leave").setAttribute("aria-label", t("leave_label"));
  }

  $("mute").addEventListener("click", () => {
    const track = localStream && localStream.getAudioTracks()[0];
    if (track) track.enabled = !track.enabled;
    syncControls();
  });
  $("video-off").addEventListener("click", () => {
    const track = localStream && localStream.getVideoTracks()[0];
    if (track) track.enabled = !track.enabled;
    syncControls();
  });
  $("leave").addEventListener("click", () => end("left"));
  // Leaving keeps the admission: the same token lets this tab back in (a patient the
  // clinician removed is refused, the host takes the token back). The camera was
  // released on the way out, so it opens again first.
  $("rejoin").addEventListener("click", async () => {
    $("rejoin").hidden = true;
    show();
    setStatus("joining");
    try {
      await openDevices();
    } catch (e) {
      release();
      showBlocked(e.name === "NotAllowedError" ? "denied" : "missing");
      return;
    }
    if (!state.admittedAt) { show("setup"); waitingButtons(true); }
    connect(() => (state.admittedAt ? joinMainRoom(patientName) : enterWaitingRoom(patientName)));
  });
  $("reload").addEventListener("click", () => location.reload());
  for (const id of ["camera", "microphone"]) {
    $(id).addEventListener("change", () => openDevices().catch(() => fail("device_failed")));
  }
  $("stethoscope").addEventListener("change", () => openStethoscope().catch(() => fail("device_failed")));

  // While waiting, the join buttons give way to "Leave the waiting room".
  function waitingButtons(waiting) {
    $("join").hidden = waiting;
    $("join-audio").hidden = waiting || !!state.noCamera;
    $("cancel").hidden = !waiting;
    $("name").readOnly = waiting;
    for (const id of ["place-country", "place-region", "place-setting"]) $(id).disabled = waiting;
  }
  $("cancel").addEventListener("click", () => end("left"));

  function join(audioOnly) {
    const name = $("name").value.trim();
    if (!name) { setStatus("name_needed", null, true); $("name").focus(); return; }
    $("join").disabled = true;
    $("join-audio").disabled = true;
    waitingButtons(true);
    patientName = name;  // kept out of window.ccVisit: no names where support tools look
    state.place = readPlace();
    const go = () => connect(() => enterWaitingRoom(name));
    if (audioOnly && !state.audioOnly) {
      // The patient chose sound only: the camera goes off now, not at the end.
      state.audioOnly = true;
      openDevices().then(go).catch(() => fail("device_failed"));
    } else {
      go();
    }
  }
  $("join").addEventListener("click", () => join(false));
  $("join-audio").addEventListener("click", () => join(true));
  $("name").addEventListener("keydown", (e) => { if (e.key === "Enter") join(false); });

  function connect(then) {
    hangUpJanus();
    // janus.js reads browser details from webrtc-adapter; Chromium needs no shim, so we
    // hand it the two fields it looks at instead of loading adapter.js.
    const adapter = { browserDetails: { browser: "chrome", version: 120 } };
    Janus.init({
      debug: false,
      dependencies: Janus.useDefaultDependencies({ adapter }),
      callback: () => {
        const session = new Janus({
          server,
          iceServers: [],
          success: () => then().catch(() => fail("failed", true)),
          error: () => {
            // Only this page's current session speaks: an old one destroyed on the way
            // out must not turn the ended screen into an error.
            if (janus !== session || state.phase === "ended" || state.phase === "error") return;
            fail("unreachable", !!state.admittedAt);
          },
          destroyed: () => {},
        });
        janus = session;
      },
    });
  }

  $("code").addEventListener("submit", (e) => {
    e.preventDefault();
    const typedRoom = $("code-room").value.replace(/[\s-]/g, "");
    const typedPin = $("code-pin").value.trim();
    if (!typedRoom || !typedPin) { setStatus("code_needed", null, true); return; }
    if (!/^\d{1,16}$/.test(typedRoom)) { setStatus("code_bad", null, true); return; }
    server = mediaServers[0];
    room = parseInt(typedRoom, 10);
    pin = typedPin;
    hostKey = "";
    remember();
    prepare();
  });

  async function start() {
    applyLanguage();
    if (!location.hash.replace(/^#/, "") && mediaServers.length) {
      state.phase = "code";
      show("code");
      setStatus("code_intro");
      return;
    }
    if (!server || !Number.isInteger(room) || !pin) { fail("link_incomplete"); return; }
    if (!mediaServers.includes(server)) {
      // The CSP would stop the connection too; say why instead of "cannot be reached".
      fail("link_server");
      return;
    }
    await prepare();
  }
  start();
})();
