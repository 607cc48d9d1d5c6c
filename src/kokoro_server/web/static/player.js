// Playing speech while it streams in: raw PCM (s16le, mono, 24 kHz) chunks are scheduled back to back
// with the Web Audio API as they arrive, and kept, so the whole clip can become a WAV file at the end.

export const SAMPLE_RATE = 24000;
const LEAD_S = 0.05; // start a little ahead of "now", so the first buffer is not clipped

export class StreamPlayer {
  constructor() {
    this.context = null;
    this.analyser = null;
    this.sources = new Set();
    this.onidle = null; // called when the last scheduled buffer has played out
    this.reset();
  }

  /** Creates (once) and resumes the audio graph; call it from a user gesture (click, key). */
  open(mediaElement) {
    if (!this.context) {
      this.context = new AudioContext();
      this.analyser = this.context.createAnalyser();
      this.analyser.fftSize = 2048;
      this.analyser.connect(this.context.destination);
      if (mediaElement) this.context.createMediaElementSource(mediaElement).connect(this.analyser);
    }
    if (this.context.state !== "running") this.context.resume().catch(() => {});
  }

  reset() {
    this.stop();
    this.parts = []; // Uint8Array pieces of s16le audio, in order
    this.samples = 0;
    this.carry = null; // a byte of a sample split across two network reads
    this.nextTime = 0; // where the next buffer starts, on the context's clock
    this.startTime = null;
    this.gaps = 0; // seconds of silence when audio arrived later than it was due
    this.ended = false;
  }

  /** Adds bytes of the response body; whole samples are scheduled at once. */
  push(chunk) {
    let bytes = chunk;
    if (this.carry !== null) {
      bytes = new Uint8Array(chunk.length + 1);
      bytes[0] = this.carry;
      bytes.set(chunk, 1);
      this.carry = null;
    }
    const whole = bytes.length - (bytes.length % 2);
    if (whole < bytes.length) this.carry = bytes[whole];
    if (whole === 0) return;
    const pcm = bytes.slice(0, whole); // an aligned copy that this player owns
    this.parts.push(pcm);
    const ints = new Int16Array(pcm.buffer, 0, whole / 2);
    this.samples += ints.length;
    this.schedule(ints);
  }

  /** No more bytes will come: once the queue has played out, onidle is called. */
  end() {
    this.ended = true;
    this.checkIdle();
  }

  schedule(ints) {
    const context = this.context;
    if (!context) return;
    const buffer = context.createBuffer(1, ints.length, SAMPLE_RATE);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < ints.length; i++) data[i] = ints[i] / 32768;
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.analyser);
    const due = context.currentTime + LEAD_S;
    let at = this.nextTime;
    if (this.startTime === null) {
      at = due;
      this.startTime = at;
    } else if (at < due) {
      this.gaps += due - at; // the network or the synthesis fell behind playback
      at = due;
    }
    source.start(at);
    this.nextTime = at + buffer.duration;
    this.sources.add(source);
    source.onended = () => {
      this.sources.delete(source);
      this.checkIdle();
    };
  }

  checkIdle() {
    if (this.ended && this.sources.size === 0 && this.onidle) this.onidle();
  }

  /** Silences everything scheduled. */
  stop() {
    for (const source of this.sources || []) {
      source.onended = null;
      try {
        source.stop();
      } catch {
        /* not started yet */
      }
    }
    this.sources = new Set();
  }

  get playing() {
    return this.sources.size > 0;
  }

  get receivedSeconds() {
    return this.samples / SAMPLE_RATE;
  }

  get playedSeconds() {
    if (!this.context || this.startTime === null) return 0;
    const played = this.context.currentTime - this.startTime - this.gaps;
    return Math.min(Math.max(played, 0), this.receivedSeconds);
  }

  /** Everything received, as a WAV file. */
  wav() {
    return new Blob([wavHeader(this.samples * 2), ...this.parts], { type: "audio/wav" });
  }

  /** Peak per column (0..1) of everything received: the still picture of the clip. */
  peaks(columns) {
    const peaks = new Float32Array(Math.max(columns, 1));
    if (!this.samples) return peaks;
    const perColumn = this.samples / peaks.length;
    let index = 0;
    for (const part of this.parts) {
      const ints = new Int16Array(part.buffer, 0, part.length / 2);
      for (let i = 0; i < ints.length; i++, index++) {
        const column = Math.min(peaks.length - 1, Math.floor(index / perColumn));
        const value = Math.abs(ints[i]) / 32768;
        if (value > peaks[column]) peaks[column] = value;
      }
    }
    return peaks;
  }
}

export function wavHeader(dataBytes) {
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, value) => [...value].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  header.setUint32(4, 36 + dataBytes, true);
  text(8, "WAVEfmt ");
  header.setUint32(16, 16, true); // fmt chunk size
  header.setUint16(20, 1, true); // PCM
  header.setUint16(22, 1, true); // mono
  header.setUint32(24, SAMPLE_RATE, true);
  header.setUint32(28, SAMPLE_RATE * 2, true); // bytes per second
  header.setUint16(32, 2, true); // bytes per frame
  header.setUint16(34, 16, true); // bits per sample
  text(36, "data");
  header.setUint32(40, dataBytes, true);
  return header.buffer;
}
