// Camera and microphone acquisition with errors a shopper understands. The microphone is optional (the
// page falls back to typing); the camera is what the server tracks, so its failure is shown prominently.

/** Map a getUserMedia error to an i18n key: camera.none | camera.denied | camera.busy | camera.insecure | camera.error. */
export function classifyMediaError(err) {
  const name = (err && err.name) || "";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError")
    return "camera.none";
  if (name === "NotAllowedError" || name === "PermissionDeniedError" || name === "SecurityError")
    return "camera.denied";
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") return "camera.busy";
  if (name === "InsecureContextError") return "camera.insecure";
  return "camera.error";
}

/**
 * Open the webcam (and, when wanted, the microphone). Returns {stream, micOk, errorKey, error}.
 * stream is null when the camera failed; the microphone failing alone only clears micOk.
 */
export async function openCamera({ width = 640, height = 480, fps = 30, audio = true } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const error = Object.assign(new Error("getUserMedia unavailable"), {
      name: window.isSecureContext ? "NotFoundError" : "InsecureContextError",
    });
    return { stream: null, micOk: false, errorKey: classifyMediaError(error), error };
  }
  const video = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: fps } };
  const audioC = { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video, audio: audio ? audioC : false });
    return { stream, micOk: stream.getAudioTracks().length > 0, errorKey: null, error: null };
  } catch (err) {
    if (!audio) return { stream: null, micOk: false, errorKey: classifyMediaError(err), error: err };
    // maybe only the microphone is missing or denied: try the camera alone
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
      return { stream, micOk: false, errorKey: null, error: null, micError: err };
    } catch (err2) {
      return { stream: null, micOk: false, errorKey: classifyMediaError(err2), error: err2 };
    }
  }
}

/** Stop every track of a stream (privacy: the kiosk releases the camera light when it resets). */
export function stopStream(stream) {
  if (!stream) return;
  for (const tr of stream.getTracks()) tr.stop();
}

/** Enable/disable the outgoing microphone (push-to-talk): disabled tracks send silence. */
export function setMic(stream, on) {
  if (!stream) return false;
  const tracks = stream.getAudioTracks();
  for (const tr of tracks) tr.enabled = on;
  return tracks.length > 0;
}
