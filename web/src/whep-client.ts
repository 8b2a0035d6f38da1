/**
 * A small WHEP client (WebRTC playback, draft-ietf-wish-whep): one RTCPeerConnection with
 * recvonly video and audio transceivers; the offer is POSTed once ICE gathering is complete
 * (no trickle ICE), the 201's SDP answer is set, and the session resource (the answer's
 * Location) is DELETEd on stop. `start` resolves once the first video frame plays and
 * rejects when the server refuses, ICE fails, or no frame arrives within `firstFrameMs`
 * plus the stream's keyframe interval (the server starts a viewer at the next keyframe and
 * says how far apart they are).
 */

/** How long ICE candidate gathering may take before the offer goes with what it has. */
const GATHER_MAX_MS = 2000;
/** The longest keyframe interval waited for on top of `firstFrameMs`. */
const KEYFRAME_WAIT_MAX_MS = 15_000;

export interface WhepStarted {
  /** What the server sends: "source", or a rendition with the reason (X-Golive-Webrtc-Source). */
  source: string;
}

export class WhepError extends Error {}

export class WhepClient {
  private pc: RTCPeerConnection | null = null;
  private resource: string | null = null;
  private stopped = false;

  constructor(
    private readonly endpoint: string,
    private readonly video: HTMLVideoElement,
    private readonly onFailed: (reason: string) => void,
    private readonly firstFrameMs = 5000,
  ) {}

  async start(): Promise<WhepStarted> {
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.addEventListener("track", (event) => {
      stream.addTrack(event.track);
      if (this.video.srcObject !== stream) {
        this.video.srcObject = stream;
      }
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const offer = pc.localDescription?.sdp ?? "";
    let response: Response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        headers: { "content-type": "application/sdp" },
        body: offer,
      });
    } catch {
      throw new WhepError("the server could not be reached");
    }
    const text = await response.text();
    if (response.status !== 201) {
      throw new WhepError(`the server refused WebRTC (${response.status}): ${text.trim()}`);
    }
    const location = response.headers.get("location");
    this.resource = location === null ? null : new URL(location, response.url).toString();
    const source = response.headers.get("x-golive-webrtc-source") ?? "source";
    const interval = Number(response.headers.get("x-golive-webrtc-keyframe-interval") ?? "0");
    const keyframeWait = Number.isFinite(interval) ? Math.min(interval * 1000, KEYFRAME_WAIT_MAX_MS) : 0;
    await pc.setRemoteDescription({ type: "answer", sdp: text });
    const failed = new Promise<never>((_resolve, reject) => {
      pc.addEventListener("connectionstatechange", () => {
        const state = pc.connectionState;
        if (state === "failed" || state === "closed" || state === "disconnected") {
          const reason = `the WebRTC connection ${state}`;
          reject(new WhepError(reason));
          if (!this.stopped) {
            this.onFailed(reason);
          }
        }
      });
    });
    failed.catch(() => {
      // Reported through onFailed once playing; start() sees it through the race below.
    });
    this.video.play().catch(() => {
      // Autoplay refused even muted: the controls let the viewer start playback.
    });
    await Promise.race([firstFrame(this.video, this.firstFrameMs + Math.max(0, keyframeWait)), failed]);
    return { source };
  }

  /** Ends the session: closes the peer connection and DELETEs the resource. */
  stop(): void {
    this.stopped = true;
    this.pc?.close();
    this.pc = null;
    if (this.resource !== null) {
      const resource = this.resource;
      this.resource = null;
      void fetch(resource, { method: "DELETE", keepalive: true }).catch(() => undefined);
    }
    this.video.srcObject = null;
  }
}

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const done = (): void => {
      if (pc.iceGatheringState === "complete") {
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_MAX_MS);
  });
}

function firstFrame(video: HTMLVideoElement, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new WhepError(`no video within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    const check = (): void => {
      if (video.videoWidth > 0 && video.currentTime > 0) {
        clearTimeout(timer);
        video.removeEventListener("timeupdate", check);
        resolve();
      }
    };
    video.addEventListener("timeupdate", check);
  });
}
